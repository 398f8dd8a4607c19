"""What runs inside the accelerate job: tiny model, tokenization, training entry point, merge.

torch/transformers/peft are imported inside functions so importing this package stays cheap.
"""

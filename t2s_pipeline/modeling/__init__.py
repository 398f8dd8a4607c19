"""The model side that training and evaluation share: tokenization with prompt masking, generation and
sampling, constrained decoding, and facts about model folders. Both `training/` and `evaluation/` import
this package; it imports neither. torch and transformers are imported inside the functions that use them."""

"""Where the EfficientLoFTR weights come from, in words: torch-free, so a Help menu can show it without the model."""

DEFAULT_HUB_ID = "zju-community/efficientloftr"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt", ".bin")  # single-file checkpoints we read

HOW_TO_GET_WEIGHTS = (
    "Get the EfficientLoFTR weights on a machine with internet access, either with "
    f"`hf download {DEFAULT_HUB_ID}` (then run offline from the same cache) or by downloading "
    "eloftr_outdoor.ckpt from the EfficientLoFTR project page, and choose that file (or a model folder with "
    "config.json and model.safetensors) as the weights source."
)

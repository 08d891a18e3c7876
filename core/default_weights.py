"""Where the EfficientLoFTR weights come from, in words: torch-free, so a Help menu can show it without the model."""

DEFAULT_HUB_ID = "zju-community/efficientloftr"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt", ".bin")  # single-file checkpoints we read

HOW_TO_GET_WEIGHTS = (
    "Get the EfficientLoFTR weights on a machine with internet access, either with "
    f"`hf download {DEFAULT_HUB_ID}` (then run offline from the same cache) or by downloading "
    "eloftr_outdoor.ckpt from the EfficientLoFTR project page, and choose that file (or a model folder with "
    "config.json and model.safetensors) as the weights source."
)


def offline_mode() -> bool:
    """The user chose offline mode (HF_HUB_OFFLINE): the Hub is never asked."""
    import os

    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_weights_cached(repo_id: str = DEFAULT_HUB_ID) -> bool:
    """Both files `from_pretrained` reads are in the local Hugging Face cache (no network, no torch)."""
    from huggingface_hub import try_to_load_from_cache

    return all(isinstance(try_to_load_from_cache(repo_id, name), str) for name in ("config.json", "model.safetensors"))

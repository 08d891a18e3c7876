"""The Hugging Face Hub: the model's files from the local cache, or downloaded once with progress; one clear
WeightsError when offline or unreachable. Torch-free, so config and weights can both use it without a cycle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.default_weights import HOW_TO_GET_WEIGHTS
from core.errors import WeightsError

DownloadProgress = Callable[[str, int, int], None]  # (file name, bytes done, bytes total)


def _progress_tqdm(progress: DownloadProgress | None, name: str) -> type | None:
    """A tqdm class for huggingface_hub that still draws its bar (the CLI's) and also reports (name, done, total)."""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    report = progress

    class CallbackTqdm(tqdm):  # type: ignore[misc]
        def update(self, n: float | None = 1) -> bool | None:
            result = super().update(n)
            report(name, int(self.n), int(self.total or 0))
            return result

    return CallbackTqdm


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick look before downloading: without it, an offline machine waits through the client's retries."""
    import os
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def download_from_hub(repo_id: str, progress: DownloadProgress | None = None, local_files_only: bool = False) -> Path:
    """config.json and model.safetensors from the Hugging Face cache, downloading them once if needed."""
    import os

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    names = ("config.json", "model.safetensors")
    try:
        files = [hf_hub_download(repo_id, name, local_files_only=True) for name in names]
        return Path(files[1]).parent
    except (LocalEntryNotFoundError, FileNotFoundError):
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise WeightsError(
            f"offline mode (HF_HUB_OFFLINE) is on and the weights '{repo_id}' are not in the local cache. "
            f"{HOW_TO_GET_WEIGHTS}"
        )
    if local_files_only or not _hub_reachable():
        raise WeightsError(
            f"the weights '{repo_id}' are not in the local cache and the Hub cannot be reached. {HOW_TO_GET_WEIGHTS}"
        )
    try:
        files = [hf_hub_download(repo_id, name, tqdm_class=_progress_tqdm(progress, name)) for name in names]
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise WeightsError(
            f"cannot fetch '{repo_id}' from the Hugging Face Hub (HTTP {status or type(exc).__name__}). "
            f"{HOW_TO_GET_WEIGHTS}"
        ) from exc
    except Exception as exc:  # network errors of the HTTP client, consistency checks, a full disk
        raise WeightsError(
            f"the download of '{repo_id}' from the Hugging Face Hub did not complete ({type(exc).__name__}); "
            "run again to resume it"
        ) from exc
    return Path(files[1]).parent


def hub_file(repo_id: str, name: str) -> Path:
    """One small file of a Hub repository (a config), from the local cache or fetched once; WeightsError if neither."""
    import os

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        return Path(hf_hub_download(repo_id, name, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError):
        pass
    if offline:
        raise WeightsError(f"offline mode (HF_HUB_OFFLINE) is on and {name} of '{repo_id}' is not in the local cache")
    if not _hub_reachable():
        raise WeightsError(f"{name} of '{repo_id}' is not in the local cache and the Hub cannot be reached")
    try:
        return Path(hf_hub_download(repo_id, name))
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(f"cannot fetch {name} of '{repo_id}' ({type(exc).__name__})") from exc

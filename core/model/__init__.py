"""The EfficientLoFTR matcher in plain PyTorch."""

from .config import EfficientLoFTRConfig
from .efficientloftr import (
    Cancelled,
    EfficientLoFTRForKeypointMatching,
    EfficientLoFTRModel,
    KeypointMatchingOutput,
    StageHooks,
)
from .outputs import BackboneOutput
from .weights import DEFAULT_HUB_ID, WeightsError

__all__ = [
    "BackboneOutput",
    "DEFAULT_HUB_ID",
    "Cancelled",
    "EfficientLoFTRConfig",
    "EfficientLoFTRForKeypointMatching",
    "EfficientLoFTRModel",
    "KeypointMatchingOutput",
    "StageHooks",
    "WeightsError",
]

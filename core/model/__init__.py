"""The EfficientLoFTR matcher in plain PyTorch."""

from core.model.config import EfficientLoFTRConfig
from core.model.efficientloftr import (
    Cancelled,
    EfficientLoFTRForKeypointMatching,
    EfficientLoFTRModel,
    KeypointMatchingOutput,
    StageHooks,
)
from core.model.outputs import BackboneOutput
from core.model.weights import DEFAULT_HUB_ID, WeightsError

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

"""The 1998 graph-transformer check-amount reader (LeCun, Bottou, Bengio and Haffner), trained
globally: over-segmentation -> segmentation graph -> LeNet-5 with a rubbish class ->
interpretation graph o amount grammar -> Viterbi.

>>> from apps.check_reading import CheckReader
>>> reader = CheckReader()  # or CheckReader.load("out/demo/global_nll.pt")
"""

from .._common.checkpoint import CheckpointError
from .api import CheckReader
from .combine import CombinedReader
from .model import CheckReaderModel
from .sdnn import SdnnReader

__all__ = ["CheckReader", "CheckReaderModel", "CheckpointError", "CombinedReader", "SdnnReader"]

"""Connected spoken-digit recognition (TIDIGITS-like) with graph transformer networks.

espeak-ng synthesises the corpus (:mod:`.corpus`); log-mel features (:mod:`.features`) go
through a time-delay network (:mod:`.network`) whose per-frame energies are combined with HMM or
CTC topologies, a lexicon and a digit-loop grammar, all ``gtn`` graphs (:mod:`.graphs`),
trained with MMI or CTC (:mod:`.train`) and decoded by beam search (:mod:`.api`, the
recogniser users load), optionally with a filterbank warp chosen per speaker at test time
(vocal-tract-length normalisation, :mod:`.vtln`).
"""

from .api import Recognition, SpeechRecognizer

__all__ = ["Recognition", "SpeechRecognizer"]

"""A walk through the graph algebra on a tiny CTC-style recogniser, printing what it does.

Run with ``ebgtn tour`` (``make demo`` runs the check reader's demo instead). Nothing here is
special-cased: CTC is the composition of per-frame energies with a collapse transducer, and
its loss is a difference of free energies.
"""

from __future__ import annotations

from pathlib import Path

import torch

import gtn

TOKENS = ["-", "a", "b", "c"]  # label 0 is the CTC blank


def run(out_dir: Path, seed: int = 0) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    frames, labels = 6, len(TOKENS)
    logits = torch.randn(frames, labels, dtype=torch.float64, requires_grad=True)
    emissions = -torch.log_softmax(logits, dim=-1)  # energies: lower is better
    print(f"1. A recogniser scored {frames} frames over the labels {TOKENS} (energy = -log p).")

    frame_graph = gtn.emission_graph(emissions)
    # frame labels -> CTC output (drop blanks, merge repeats); deterministic: one path each
    collapse = gtn.ctc_transducer(labels).with_symbols(gtn.SymbolTable(TOKENS))
    lattice = gtn.compose(frame_graph, collapse)
    print(
        f"2. compose(dense lattice: {frame_graph.num_arcs} arcs, collapse transducer: "
        f"{collapse.num_arcs} arcs) -> {lattice.num_nodes} states, {lattice.num_arcs} arcs."
    )

    total = gtn.free_energy(lattice)
    print(f"3. Free energy of every alignment: {total.item():+.6f} (0: frames are normalised).")

    best = gtn.best_path(lattice)
    best_out = [TOKENS[k] for k in best.olabel.tolist() if k != gtn.EPSILON]
    best_in = "".join(TOKENS[k] for k in best.ilabel.tolist())
    print(
        f"4. Viterbi: best alignment {best_in!r} reads {''.join(best_out)!r}, "
        f"energy {gtn.min_energy(lattice).item():.4f}."
    )

    target = [1, 2]  # "ab"
    correct = gtn.compose(lattice, gtn.linear(target))
    loss = gtn.free_energy(correct) - total
    reference = torch.nn.functional.ctc_loss(
        -emissions.unsqueeze(1), torch.tensor([target]), [frames], [len(target)], reduction="sum"
    )
    print(
        f"5. NLL of 'ab' = F(lattice o 'ab') - F(lattice) = {loss.item():.6f}; "
        f"torch ctc_loss says {reference.item():.6f}."
    )

    loss.backward()
    print(
        "6. backward(): d loss / d logits has shape "
        f"{list(logits.grad.shape)}; rows sum to {logits.grad.sum(-1).abs().max().item():.1e}."
    )

    outputs = gtn.project(lattice.detach(), "output")
    print("7. Three best distinct readings (n-best over output sequences):")
    for path in gtn.nbest(outputs, 3, distinct=True):
        text = "".join(TOKENS[k] for k in path.olabel.tolist() if k != gtn.EPSILON) or "(empty)"
        energy = path.weight.sum() + path.start_weight[0] + path.final_weight[-1]
        print(f"     {text:8s} energy {energy.item():.4f}")

    att, syms = out_dir / "collapse.fst.txt", out_dir / "tokens.syms"
    gtn.io.write_att(collapse, att)
    gtn.io.write_symbols(collapse.isymbols, syms)
    dot = out_dir / "collapse.dot"
    gtn.draw(collapse, dot)
    print(
        f"8. Wrote the collapse transducer as OpenFst text ({att}, symbols {syms}) and DOT ({dot})."
    )
    svg = out_dir / "collapse.svg"
    try:
        gtn.draw(collapse, svg)
        print(f"   and as a picture: {svg}")
    except gtn.GraphvizNotFoundError:
        print(f"   No picture: Graphviz's `dot` is not installed; {gtn.drawing.INSTALL_HINT}.")
    except gtn.GraphvizError as err:
        print(f"   No picture: {err}")

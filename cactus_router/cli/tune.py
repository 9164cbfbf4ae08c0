"""tune-encoder: fine-tune the default encoder on a routing table, for `--embedder minilm-l3-tuned:PATH`."""

from __future__ import annotations

import click


@click.command("tune-encoder")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="LLMRouter query file giving the prompts of an LLMRouter JSON table.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="ONNX file to write.")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=64, show_default=True, type=click.IntRange(min=2), help="Prompts per batch.")
@click.option("--lr", default=2e-5, show_default=True, type=click.FloatRange(min=0.0, min_open=True))
@click.option("--temperature", default=0.1, show_default=True, type=click.FloatRange(min=0.0, min_open=True),
              help="Of the contrastive loss.")
@click.option("--max-rows", default=None, type=click.IntRange(min=8),
              help="Tune on a seeded sample of this many rows (default: all).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="PyTorch CPU threads.")
def tune_encoder_command(data: str, queries: str | None, output: str, epochs: int, batch: int, lr: float,
                         temperature: float, max_rows: int | None, seed: int, threads: int) -> None:
    """Fine-tune paraphrase-MiniLM-L3-v2 on DATA's labels (prompts the same models answer well are
    pulled together) and write it as ONNX; needs `pip install 'cactus-router[tune]'`.

    Train with it: cactus-router train DATA --embedder minilm-l3-tuned:OUTPUT ...
    """
    import numpy as np

    from .._files import check_output
    from ..data import read_table, score_matrix
    from ..tuning import tune_encoder

    check_output(output)
    rows = read_table(data, queries=queries)
    if max_rows is not None and len(rows) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
        rows = [rows[i] for i in keep]
    models = sorted({m for r in rows for m in r.scores})
    report = tune_encoder([r.prompt for r in rows], score_matrix(rows, models), output, epochs=epochs, batch=batch,
                          lr=lr, temperature=temperature, seed=seed, threads=threads)
    losses = ", ".join(f"{v:.4f}" for v in report.losses)
    click.echo(f"wrote {output}: {report.rows} prompts, {report.labels} label sets, {report.batches} batches, "
               f"loss by epoch {losses}, {report.seconds:.0f} s", err=True)

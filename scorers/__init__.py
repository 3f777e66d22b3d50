"""Small-model scorers (fastText, KenLM, small causal LMs, embeddings) that add score columns."""

__all__: list[str] = []

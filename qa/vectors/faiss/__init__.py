"""FAISS in the process: the default vector backend (exact, IVF, HNSW, PQ or RaBitQ code
scans, chosen by size)."""

"""Clustering (XDC / DeepCluster): faiss k-means on GPU when present, CPU otherwise."""

from avlib.cluster.kmeans import INITS, fill_empty_clusters, gpu_available, kmeans, kmeans_plusplus, preprocess

__all__ = ["kmeans", "kmeans_plusplus", "preprocess", "fill_empty_clusters", "gpu_available", "INITS"]

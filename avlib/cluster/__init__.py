"""Clustering (XDC / DeepCluster): faiss k-means on GPU when present, CPU otherwise."""

from avlib.cluster.kmeans import fill_empty_clusters, gpu_available, kmeans, preprocess

__all__ = ["kmeans", "preprocess", "fill_empty_clusters", "gpu_available"]

//! Synthetic raw exports with ground truth (see shared spec raw-exports.md).

//! Scores pipeline outputs against the generator's ground truth.

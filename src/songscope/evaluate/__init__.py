"""Statistical evaluation of clusterings: internal indices, k selection, stability, profiles, labels."""

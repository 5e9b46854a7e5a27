"""The web app (`create_app`) and its pages; `songscope serve` runs it."""

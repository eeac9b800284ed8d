"""All demo code, kept apart from the product: ``world`` builds the demo's data registry and
workspace and runs ``lepton demo``; ``rerun_check`` is the demo's ending (the team moves on,
then the first run is rerun exactly)."""

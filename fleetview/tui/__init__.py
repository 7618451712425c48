"""The Textual TUI: the only package of fleetview that imports textual."""

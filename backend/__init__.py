"""Domain core of the 一业一证 service: models, services, workflow and the app factory."""

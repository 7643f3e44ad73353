"""The backend's operations, one module per concern, like moto's ``models``.

Each service owns the rules of its concern and is the only code that reads or changes that
part of the state; the wire layer (``handlers/``) calls them through ``Backend`` and never
touches ``State`` itself (emulator/.importlinter, "wire-layer-never-touches-state").
"""

"""careplug-sim: simulated households, plugs that report like real firmware, record and replay.

Depends only on the payload formats it writes and on :mod:`careplug.clock`, never on the
daemon's insides.
"""

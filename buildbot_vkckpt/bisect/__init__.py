"""Automatic bisection of a green→red change (docs/bisect.rst).

``core``        the search: verdicts in, next revision or culprit out (pure)
``check``       the failing check of a red build, a probe build's verdict on it (pure)
``facts``       reading builds from the master's data API
``watch``       the watched build's last step: starts a bisection
``controller``  the controller build's steps: range, probes, result
``config``      ``add_to_config(bisect=...)``: builders, schedulers, validation
"""

"""Runtimes: adapters that hand placed work to execution engines and report what they did.

:mod:`keel.runtimes.base` is the contract; ``local``, ``slurm``, ``ray`` and ``kubernetes``
implement it. The engines' client libraries load only inside the adapter that needs them.
"""

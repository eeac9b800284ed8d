"""Load lepton_jupyter's IPython extension in the Jupyter kernels of this environment.

The wheel installs this file to ``<sys.prefix>/etc/ipython/startup/``; IPython runs the
startup files there in every kernel and terminal it starts from this environment, after the
profile's own (``~/.ipython/profile_default/startup``). In a kernel the extension activates
the run ledger (and reads a rerun's pins) and registers the ``%lepton`` magics; a terminal
IPython is left alone. Nothing here may stop a kernel from starting: a failure (a bad
``LEPTON_PINS`` file, a broken install) is one line on the kernel's stderr and the kernel
carries on without the extension; the pins are read again, and the error raised, where a
cell uses them, and ``%load_ext lepton_jupyter`` shows it in full.
"""


def _load_lepton_in_kernels() -> None:
    import sys

    shell = get_ipython()  # noqa: F821
    if getattr(shell, "kernel", None) is None:
        return
    try:
        shell.extension_manager.load_extension("lepton_jupyter")
    except Exception as error:  # a startup file must never break a kernel
        text = str(getattr(error, "message", "") or error).strip().splitlines()
        reason = text[0] if text else type(error).__name__
        print(f"lepton_jupyter: not loaded in this kernel: {reason}", file=sys.__stderr__)


_load_lepton_in_kernels()
del _load_lepton_in_kernels

"""Load lepton_jupyter's IPython extension in every IPython kernel of this environment.

The wheel installs this file to ``<sys.prefix>/etc/ipython/startup/``; IPython runs the
startup files there in every kernel and terminal it starts from this environment, after the
profile's own (``~/.ipython/profile_default/startup``). The extension activates the run
ledger (and reads a rerun's pins) and registers the ``%lepton`` magics.
"""

get_ipython().extension_manager.load_extension("lepton_jupyter")  # noqa: F821

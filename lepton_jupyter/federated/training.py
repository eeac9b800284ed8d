"""What an organisation's training function gets: the round, the strategy's config, the
proximal term (FedProx) and DP-SGD through Opacus, with the privacy budget accounted
across rounds in the organisation's own node folder.

Weights travel as NumPy arrays in ``state_dict`` order; a model's buffers travel too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .schema import DifferentialPrivacy

ACCOUNTANT_FILE = "privacy-accountant.json"


def get_weights(model_or_state: Any) -> list[Any]:
    """A model's (or a state_dict's) tensors as NumPy arrays (copies), in state_dict order."""
    state = model_or_state if isinstance(model_or_state, dict) else model_or_state.state_dict()
    return [tensor.detach().cpu().numpy().copy() for tensor in state.values()]


def set_weights(model: Any, arrays: list[Any]) -> None:
    """Load arrays (in state_dict order) into ``model``, each in its tensor's dtype."""
    import torch

    state = model.state_dict()
    if len(arrays) != len(state):
        raise ValueError(
            f"The model build() makes has {len(state)} tensors; the federation's has "
            f"{len(arrays)}. build() must make the starting version's architecture."
        )
    model.load_state_dict(
        {
            key: torch.as_tensor(array, dtype=tensor.dtype).reshape(tensor.shape)
            for (key, tensor), array in zip(state.items(), arrays, strict=True)
        }
    )


def state_dict_of(keys: list[str], arrays: list[Any]) -> dict[str, Any]:
    import torch

    return {key: torch.as_tensor(array.copy()) for key, array in zip(keys, arrays, strict=True)}


class TrainContext:
    """Passed to the notebook's ``train(model, data, ctx)`` in each organisation."""

    def __init__(
        self,
        *,
        organisation: str,
        round: int,
        config: dict[str, Any],
        privacy: DifferentialPrivacy | None,
        state_dir: Path,
        global_weights: list[Any],
    ) -> None:
        self.organisation = organisation
        self.round = round
        self.config = config
        self.privacy = privacy
        self._state_dir = state_dir
        self._global = global_weights
        self._engine: Any = None

    def proximal_term(self, model: Any) -> Any:
        """FedProx's ``mu/2 * ||w - w_global||^2`` (zero for strategies without ``proximal_mu``);
        add it to the loss."""
        import torch

        mu = float(self.config.get("proximal_mu", 0.0))
        params = dict(model.named_parameters())
        state_keys = list(model.state_dict())
        term = torch.zeros(())
        if mu == 0.0:
            return term
        for key, array in zip(state_keys, self._global, strict=True):
            if key in params:
                term = term + (params[key] - torch.as_tensor(array)).pow(2).sum()
        return mu / 2 * term

    def private(self, model: Any, optimizer: Any, data_loader: Any) -> tuple[Any, Any, Any]:
        """(model, optimizer, data_loader) made differentially private by Opacus when the
        federation asked for it, else unchanged: train with what this returns."""
        if self.privacy is None:
            return model, optimizer, data_loader
        from opacus import PrivacyEngine

        self._engine = PrivacyEngine(accountant="rdp")
        self._engine.accountant.history = [tuple(step) for step in self._load_history()]
        return self._engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=data_loader,
            noise_multiplier=self.privacy.noise_multiplier,
            max_grad_norm=self.privacy.max_grad_norm,
        )

    def privacy_spent(self) -> float:
        """Epsilon spent so far by this organisation (all its rounds), at the plan's delta;
        records this round's steps for the next."""
        if self.privacy is None:
            raise RuntimeError("This federation runs without differential privacy.")
        if self._engine is None:
            raise RuntimeError(
                "The federation asked for differential privacy, but train() never called "
                "ctx.private(model, optimizer, data_loader): nothing was made private."
            )
        history = [list(step) for step in self._engine.accountant.history]
        self._state_dir.mkdir(parents=True, exist_ok=True)
        path = self._state_dir / ACCOUNTANT_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(history))
        tmp.replace(path)
        return float(self._engine.get_epsilon(self.privacy.delta))

    def _load_history(self) -> list[list[float]]:
        try:
            return json.loads((self._state_dir / ACCOUNTANT_FILE).read_text())
        except FileNotFoundError:
            return []

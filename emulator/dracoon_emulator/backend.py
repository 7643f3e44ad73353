"""The emulator's backend: its state and the rules that change it, with no HTTP in it.

Like moto's ``models`` next to its ``responses``: the wire layer (``app.py``: routing,
authentication, fault injection, turning errors into answers; ``handlers/``: parsing and
formatting requests and responses) holds one ``Backend`` and calls its operations, grouped
in one service per concern (``services/``: uploads, keys, sessions, rooms, nodes, ...). The
backend owns the seed, the settings, the in-memory state, the content store, the fault rules
and the state's persistence, and never imports the wire layer, so there is no import circle
between them.
"""

from __future__ import annotations

import copy
from pathlib import Path

from . import views
from .errors import ApiError
from .faults import FaultInjector
from .keygen import KeyGenerationUnavailable, generate_key_pair
from .model import KEY_PAIR_VERSIONS, Node, User
from .persistence import SnapshotWriter
from .seed import SeedError, apply_seed, load_seed, parse_settings
from .services.accounts import Accounts
from .services.admin import Admin
from .services.comments import Comments
from .services.downloads import Downloads
from .services.keys import FileKeys
from .services.node_updates import NodeUpdates
from .services.nodes import Nodes
from .services.recycle_bin import RecycleBin
from .services.rooms import Rooms
from .services.sessions import Sessions
from .services.transfer import Transfers
from .services.uploads import Uploads
from .state import State
from .storage import ContentStore


class Backend:
    """One emulated DRACOON: state, content, settings and fault rules (no HTTP)."""

    def __init__(self, seed: dict | str | Path | None, data_dir: Path, *, persist: bool) -> None:
        self.seed = load_seed(seed)
        self.settings = parse_settings(self.seed)
        self.state = State(data_dir / "state.json" if persist else None)
        self._writer = SnapshotWriter(self.state.save) if persist else None
        self.store = ContentStore(data_dir / "content", self.settings.storage)
        try:
            self.faults = FaultInjector(self.settings.faults)
        except ValueError as exc:
            raise SeedError(str(exc)) from None
        self.uploads = Uploads(self.state, self.store, self.settings)
        self.keys = FileKeys(self.state)
        self.sessions = Sessions(self.state, self.settings)
        self.rooms = Rooms(self.state, self.settings)
        self.downloads = Downloads(self.state, self.store, self.settings)
        self.accounts = Accounts(self.state)
        self.comments = Comments(self.state)
        self.nodes = Nodes(self.state, self.store)
        self.node_updates = NodeUpdates(self.state)
        self.transfers = Transfers(self.state, self.store)
        self.recycle_bin = RecycleBin(self.state, self.store)
        self.admin = Admin(self.state)
        self._seed_ready: dict | None = None
        if self.state.load_saved():
            self._fail_interrupted_s3_uploads()
        else:
            apply_seed(self.state, self._materialised_seed())
            self.save_state()

    def _materialised_seed(self) -> dict:
        """The seed with key pairs generated once, so a reset does not generate them again."""
        if self._seed_ready is None:
            seed = copy.deepcopy(self.seed)
            for user in seed.get("users") or []:
                if isinstance(user, dict):
                    self.materialise_key_pairs_for(user)
            self._seed_ready = seed
        return self._seed_ready

    def materialise_key_pairs_for(self, spec: dict) -> dict:
        """Generate the key pair of a user spec with ``encryption_password`` (in place)."""
        if (
            isinstance(spec, dict)
            and spec.get("key_pair") is None
            and isinstance(spec.get("encryption_password"), str)
            and spec["encryption_password"]
            and spec.get("key_pair_version", "RSA-4096") in KEY_PAIR_VERSIONS
        ):
            version = spec.get("key_pair_version", "RSA-4096")
            try:
                spec["key_pair"] = generate_key_pair(version, spec["encryption_password"])
            except KeyGenerationUnavailable as exc:
                raise SeedError(f"user {spec.get('login')!r}: {exc}") from None
        return spec

    def _fail_interrupted_s3_uploads(self) -> None:
        """An S3 completion cut short by a restart would poll as "finishing" forever."""
        for upload in self.state.uploads.values():
            if upload.status == "finishing":
                upload.status = "error"
                upload.error = ApiError(
                    500, None, "The emulator restarted while finishing this upload; upload again"
                ).body()

    def reset(self) -> None:
        """Back to the seed: state, content and fault rules."""
        with self.state.lock:
            self.state.clear()
            self.store.wipe()
            apply_seed(self.state, self._materialised_seed())
            self.faults.replace(self.settings.faults)
        # Outside the state lock: the writer takes its write lock before the state lock.
        self.save_state()

    # what every family of answers needs ---------------------------------------------------
    def node_json(self, node: Node, user: User, *, detailed: bool = False) -> dict:
        """A node as the API shows it to ``user`` (permissions, sizes and counts of now)."""
        with self.state.lock:
            return views.node_json(self.state, node, user, detailed=detailed)

    def state_changed(self) -> None:
        """A request changed the state: ``state.json`` follows soon (persistence.py)."""
        if self._writer is not None:
            self._writer.changed()

    def save_state(self) -> None:
        """Write ``state.json`` now (when persistence is on)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Stop writing in the background; ``state.json`` holds every change."""
        if self._writer is not None:
            self._writer.close()

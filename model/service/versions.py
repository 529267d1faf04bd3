"""The stored versions as answers: the history list and one version's line in it."""

from __future__ import annotations

from model.answers import History, VersionInfo
from model.versions.metadata import MetadataError
from model.versions.registry import Registry

CACHE_SIZE = 256  # versions come and go; the cache of their lines stays bounded


class Versions:
    def __init__(self, registry: Registry):
        self.registry = registry
        # Lines by (version, served?, metadata file stamp): the history is asked on every
        # "Show segment" click, and parsing each version's JSON is most of its cost.
        self._infos: dict[tuple[str, bool, tuple[int, int, int]], VersionInfo] = {}

    def version_info(self, name: str, served: str | None = None) -> VersionInfo:
        is_served = name == (served if served is not None else self.registry.served())
        stamp = self.registry.metadata_stamp(name)
        key = (name, is_served, stamp) if stamp is not None else None
        known = self._infos.get(key) if key is not None else None
        if known is not None:
            return known
        info = self._read(name, is_served)
        if key is not None:
            if len(self._infos) >= CACHE_SIZE:
                self._infos.clear()
            self._infos[key] = info
        return info

    def _read(self, name: str, is_served: bool) -> VersionInfo:
        meta = self.registry.metadata(name)
        comp = meta.comparison
        status = "served" if is_served else meta.status
        if status == "served" and not is_served:
            status = "previous"
        return VersionInfo(
            version=name,
            trained_at=meta.trained_at,
            rows=meta.rows,
            k=meta.k,
            silhouette=meta.quality.silhouette,
            sizes={s.name: s.size for s in meta.segments},
            served=is_served,
            status=status,
            moved=comp.moved,
            moved_share=comp.moved_share,
            ari=comp.ari,
            note="; ".join(meta.guardrails),
            data_digest=meta.source.digest,
        )

    def history(self) -> History:
        """Every stored version, newest first; one whose metadata.json cannot be read is
        listed as unreadable with the reason, so the others still show."""
        served = self.registry.served()
        versions = []
        for name in reversed(self.registry.versions()):
            try:
                versions.append(self.version_info(name, served))
            except MetadataError as exc:
                versions.append(VersionInfo.unreadable(name, str(exc), name == served))
        return History(versions=versions, served=served)

"""Discovery: the manifest's videos found on disk (globs or a CSV list) and named by its rule.

Every problem (missing root, zero videos, duplicate ids, unsafe ids given in the CSV list, image
folders or sequences without ``videos.fps``) is collected and raised once as :class:`ConfigError`.
With ``videos.kind: images`` the image files the rule gives one id form one sequence
(:func:`_sequences`); a single image is a one-frame item. One odd file never blocks a dataset: a
non-ASCII name gets a transliterated id (``Ärger 1.mp4`` -> ``Arger_1``), an unreadable path is
unmatched."""

from __future__ import annotations

import csv
import glob
import io
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from emoprep.errors import ConfigError, VideoError
from emoprep.io.atomic import expand_path
from emoprep.io.video import IMAGE_SUFFIXES, is_image, names_glob, order_frames
from emoprep.pipeline.manifest.csv_format import csv_hint, csv_row, decode_codes
from emoprep.pipeline.manifest.labels import VIDEO_ID_RE, Named, in_vocabulary, name_video
from emoprep.pipeline.manifest.listing import _path_order as _path_order
from emoprep.pipeline.manifest.listing import glob_matches
from emoprep.pipeline.manifest.presets import PRESETS, VideoKind
from emoprep.pipeline.manifest.schema import manifest_problems, read_utf8
from emoprep.types import SourceKind, VideoEntry

if TYPE_CHECKING:
    from emoprep.pipeline.manifest.schema import Manifest, VideosSection


@dataclass
class Discovery:
    """Videos found by :func:`discover_videos`, sorted by id, and the paths left out, with why."""

    videos: list[VideoEntry]
    unmatched: list[str] = field(default_factory=list)  #: "relative/path: reason"


@dataclass(frozen=True)
class _Candidate:
    rel: str  #: POSIX path relative to root (the text the naming rule sees)
    full: str  #: the path (a Path only when asked for: a million of them cost seconds)
    is_dir: bool
    row: dict[str, str] | None = None  #: the CSV row, in CSV mode

    @cached_property
    def path(self) -> Path:
        return Path(self.full)


def _kind_problem(v: VideosSection, path: Path | str, is_dir: bool | None = None) -> str | None:
    """Why ``path`` cannot be a video under ``videos.kind``; None when it can. ``is_dir``: known
    already (one stat per path), else asked."""
    is_dir = os.path.isdir(path) if is_dir is None else is_dir
    if v.kind is VideoKind.IMAGES:
        if is_dir:
            return "a folder, but videos.kind is 'images' (fix: include its images, e.g. '*/*.png')"
        return None if is_image(path) else f"not an image ({' '.join(IMAGE_SUFFIXES)})"
    if is_dir:
        if v.kind is VideoKind.FILE:
            return "a folder, but videos.kind is 'file'"
        images = (q for q in Path(path).glob(v.frames_glob or "*")
                  if q.suffix.lower() in IMAGE_SUFFIXES)
        return (None if next(images, None)
                else f"a folder without images matching videos.frames_glob {v.frames_glob!r}")
    if v.kind is VideoKind.FRAMES:
        return "a file, but videos.kind is 'frames' (folders of images)"
    return None


def _unreadable(path: Path | str) -> str | None:
    """Why ``path`` cannot be opened (a broken link, a link loop, no permission), or None."""
    try:
        os.stat(path)
    except OSError as exc:
        return (f"cannot be read ({exc.strerror or exc}: a broken symbolic link or a link loop?) "
                "(fix: repair or delete it, or leave it out with videos.exclude)")
    return None


def _glob_candidates(m: Manifest, root: Path) -> tuple[list[_Candidate], list[str]]:
    """Paths matched by ``include`` and not by ``exclude`` (nor inside the output folder)."""
    v = m.videos
    skip = {p for g in v.exclude for p, _ in glob_matches(root, "exclude", g, m.source)}
    skip.add(str(m.output_dir()))
    seen: set[str] = set()
    found, unmatched = [], []
    root_s = str(root)
    cut = len(root_s) + (not root_s.endswith("/"))  # a glob's paths are root's string + "/" + ...
    for g in v.include or []:
        for ps, is_dir in glob_matches(root, "include", g, m.source):
            if ps in seen or _skipped(ps, skip):
                continue  # seen, excluded on purpose, or our own output
            seen.add(ps)
            rel = ps[cut:]  # == p.relative_to(root).as_posix()
            if any(s.startswith(".") for s in rel.split("/")):
                unmatched.append(f"{rel}: hidden (a name starts with '.')")
                continue
            try:  # one stat per path not known yet (a link): readable, and folder or file
                is_dir = stat.S_ISDIR(os.stat(ps).st_mode) if is_dir is None else is_dir
            except OSError:
                unmatched.append(f"{rel}: {_unreadable(ps) or 'cannot be read'}")
                continue
            why = _kind_problem(v, ps, is_dir)
            if why:
                unmatched.append(f"{rel}: {why}")
            else:
                found.append(_Candidate(rel, ps, is_dir))
    return found, unmatched


def _skipped(path: str, skip: set[str]) -> bool:
    """``path`` or a folder above it is in ``skip`` (absolute paths as strings)."""
    if path in skip:
        return True
    cut = path.rfind(os.sep)
    while cut > 0:
        if path[:cut] in skip:
            return True
        cut = path.rfind(os.sep, 0, cut)
    return False


def _csv_candidates(m: Manifest, root: Path) -> tuple[list[_Candidate], list[str]]:
    """Rows of ``videos.csv``: (candidates, problems). Paths in it are relative to the root."""
    path = expand_path(m.videos.csv or "", m.base_dir)
    if not path.is_file():
        return [], [f"videos.csv: expected a CSV file, got {m.videos.csv!r} -> {path}, which "
                    "does not exist (fix: relative paths are taken against the manifest's folder "
                    f"{m.base_dir})"]
    found, problems = [], []
    try:
        text = read_utf8(path, "videos.csv")
    except ConfigError as exc:
        return [], exc.problems
    columns = PRESETS[m.labels.preset].csv_columns
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        header = [columns.get(h.strip(), h.strip()) for h in reader.fieldnames or []]
        if "path" not in header:
            return [], [f"videos.csv {path.name}: expected a header row with a 'path' column, got "
                        f"{reader.fieldnames} (fix: first line e.g. path,subject,emotion"
                        f"{csv_hint(columns)})"]
        for raw in reader:
            at = f"videos.csv {path.name} line {reader.line_num}"
            if None in raw:
                problems.append(f"{at}: expected {len(reader.fieldnames or [])} cells, got more "
                                "(fix: quote cells with commas)")
                continue
            row = csv_row(raw, columns)
            if not any(row.values()):
                continue
            p = expand_path(row["path"], root)
            why = "path is empty" if not row["path"] else None
            why = why or (None if p.exists() else f"{p} does not exist") or \
                _kind_problem(m.videos, p)
            if why:
                problems.append(f"{at}: expected a video under {root}, got {row['path']!r}: {why} "
                                "(fix: correct the path)")
                continue
            rel = p.relative_to(root).as_posix() if p.is_relative_to(root) else row["path"]
            found.append(_Candidate(rel, str(p), p.is_dir(), row))
    return found, problems


def _named(m: Manifest, root: Path, c: _Candidate) -> Named | str:
    """The naming rule's result, with the CSV row's video_id / subject / label cells on top."""
    named = name_video(m.labels, c.rel, root, c.is_dir)
    if isinstance(named, str):
        return named
    if c.row is None or not c.row.get("video_id"):
        named = _safe(m, root, c, named)
    if isinstance(named, str) or c.row is None:
        return named
    given = {k: v for k, v in c.row.items() if v and k not in ("path", "video_id", "subject")}
    cells = decode_codes(PRESETS[m.labels.preset].csv_codes, given)
    if isinstance(cells, str):
        return cells
    labels = in_vocabulary(m.labels, {**named.labels, **{k: v.lower() for k, v in cells.items()}})
    video_id = c.row.get("video_id") or named.video_id
    subject = c.row.get("subject") or (video_id if m.labels.subject is None else named.subject)
    return Named(video_id, subject, labels)


#: letters NFKD does not split into an ASCII letter and an accent
_LETTERS = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
            "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}


def ascii_name(text: str) -> str:
    """``'Ärger 1.mp4'`` -> ``'Arger 1.mp4'``: accents dropped, other non-ASCII as ``u<hex>``."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if ord(ch) < 128:
            out.append(ch)
        elif not unicodedata.combining(ch):
            out.append(_LETTERS.get(ch, f"u{ord(ch):04x}"))
    return "".join(out)


def _safe(m: Manifest, root: Path, c: _Candidate, named: Named) -> Named:
    """``named`` with a safe id: the rule applied to the transliterated path when the real path's
    id is not a safe file name. An id the template makes unsafe (a '/' in it) stays as it is and
    is reported by :func:`_id_problems`."""
    if VIDEO_ID_RE.match(named.video_id):
        return named
    alt = name_video(m.labels, ascii_name(c.rel), root, c.is_dir)
    vid = "" if isinstance(alt, str) else alt.video_id.lstrip("_.+-")
    if not VIDEO_ID_RE.match(vid):
        return named
    subject = vid if named.subject == named.video_id else named.subject
    return Named(vid, subject, named.labels)


def _unsafe_problem(vid: str, rel: str, csv_ids: bool) -> str:
    fix = ("correct its video_id cell" if csv_ids else
           "set labels.video_id to fields joined by _ . + or -, such as '{path}' (the default)")
    example = ascii_name(vid).replace("/", "_").strip("_.+-") or "video1"
    return (f"video id {vid!r} of {rel}: expected letters, digits and _ . + - only, starting with "
            f"a letter or digit (ids become file names) (fix: {fix}; e.g. {example!r})")


def _id_problems(found: list[tuple[VideoEntry, str]], csv_ids: bool = False) -> list[str]:
    """Unsafe ids and duplicate ids (also ids that differ only in case: they collide on macOS)."""
    problems: list[str] = []
    first: dict[str, tuple[str, str]] = {}  # lower-case id -> (id, path)
    for entry, rel in found:
        vid = entry.video_id
        if not VIDEO_ID_RE.match(vid):
            problems.append(_unsafe_problem(vid, rel, csv_ids))
        elif vid.lower() in first:
            other_id, other = first[vid.lower()]
            case = "" if other_id == vid else f" (as {other_id!r}; ids may not differ only in case)"
            problems.append(
                f"video id {vid!r}: produced by both {other}{case} and {rel}, expected unique ids "
                f"(fix: set labels.video_id to a template that tells them apart, e.g. '{{path}}', "
                f"or leave one out with videos.exclude)"
            )
        else:
            first[vid.lower()] = (vid, rel)
    return problems


def _root_problem(m: Manifest, root: Path) -> str:
    unset = " (an environment variable in it is not set)" if "$" in str(root) else ""
    return (
        f"videos.root: expected an existing folder, got {m.videos.root!r} -> {root}{unset} (fix: "
        "point "
        f"videos.root at the dataset folder; a relative root is taken against {m.base_dir})"
    )


def _nothing_found(m: Manifest, root: Path, unmatched: list[str]) -> str:
    what = f"the rows of {m.videos.csv}" if m.videos.csv else f"include {m.videos.include}"
    some = f"; {len(unmatched)} paths matched no rule, e.g. {unmatched[0]}" if unmatched else ""
    return (
        f"videos: expected at least one video under {root} from {what}, got none{some} (fix: check "
        f"videos.root, videos.include (globs are case-sensitive except for the file suffix) "
        f"and labels)"
    )


#: frames per second of a single image when ``videos.fps`` is not set (one frame: timestamp 0)
SINGLE_IMAGE_FPS = 1.0


def _entry(m: Manifest, c: _Candidate, got: Named) -> VideoEntry:
    """The entry of one matched path: a frame folder, a single image (a one-frame frame source
    whose ``path`` is the image) or a video file."""
    v = m.videos
    if c.is_dir:
        return VideoEntry(got.video_id, c.full, got.subject, got.labels, SourceKind.FRAMES,
                          v.fps, v.frames_glob or "*.png")
    name = os.path.basename(c.full)
    if is_image(name):
        return VideoEntry(got.video_id, c.full, got.subject, got.labels, SourceKind.FRAMES,
                          v.fps or SINGLE_IMAGE_FPS, glob.escape(name))
    return VideoEntry(got.video_id, c.full, got.subject, got.labels, SourceKind.FILE, v.fps,
                      v.frames_glob or "*.png")


def _disagreement(vid: str, members: list[tuple[_Candidate, Named]]) -> str | None:
    """Why the images that got id ``vid`` cannot be one sequence (other folders, other subject
    or labels), or None."""
    (c0, n0), fix = members[0], "(fix: set labels.video_id to a template that tells them apart)"
    for c, n in members[1:]:
        if c.path.parent != c0.path.parent:
            return (f"video id {vid!r}: images {c0.rel} and {c.rel} are in different folders, "
                    f"expected one folder per image sequence {fix}, e.g. '{{parent}}_...'")
        what = "subject" if n.subject != n0.subject else next(
            (f"label {k!r}" for k in sorted(n0.labels.keys() | n.labels.keys())
             if n0.labels.get(k) != n.labels.get(k)), None)
        if what is not None:
            return (f"video id {vid!r}: its images {c0.rel} and {c.rel} differ in {what}, expected "
                    "one value per image sequence (fix: leave the frame number out of the label "
                    "groups (labels.groups, or an unnamed group such as _\\d+) or put what "
                    "differs into labels.video_id)")
    return None


def _sequence(m: Manifest, vid: str, members: list[tuple[_Candidate, Named]]
              ) -> tuple[VideoEntry, str] | str:
    """One image sequence (``videos.kind: images``): the folder, and a ``frames_glob`` that
    lists exactly its images; a single image stays a one-frame item. A problem as a string."""
    c0, n0 = members[0]
    if len(members) == 1:
        return _entry(m, c0, n0), c0.rel
    why = _disagreement(vid, members)
    if why is not None:
        return why
    folder = c0.path.parent
    rel = f"{c0.rel} ... ({len(members)} images)"
    try:
        order_frames(sorted(c.path for c, _ in members), f"image sequence {vid!r} in {folder}")
    except VideoError as exc:
        return str(exc)
    entry = VideoEntry(vid, str(folder), n0.subject, n0.labels, SourceKind.FRAMES, m.videos.fps,
                       names_glob(c.path.name for c, _ in members))
    return entry, rel


def _sequences(m: Manifest, found: list[tuple[_Candidate, Named]]
               ) -> tuple[list[tuple[VideoEntry, str]], list[str]]:
    """``videos.kind: images``: the named image files grouped by video id, one entry each."""
    groups: dict[str, list[tuple[_Candidate, Named]]] = {}
    for c, got in found:
        groups.setdefault(got.video_id, []).append((c, got))
    entries: list[tuple[VideoEntry, str]] = []
    problems: list[str] = []
    for vid, members in groups.items():
        made = _sequence(m, vid, sorted(members, key=lambda cn: cn[0].rel))
        if isinstance(made, str):
            problems.append(made)
        else:
            entries.append(made)
    return entries, problems


def _fps_problem(m: Manifest, named: list[tuple[VideoEntry, str]]) -> str | None:
    """Frame folders and image sequences need ``videos.fps`` (single images do not)."""
    if m.videos.fps is not None:
        return None  # below: a single image has SINGLE_IMAGE_FPS, a folder or sequence none
    folders = [rel for e, rel in named if e.kind is SourceKind.FRAMES and e.fps is None]
    if not folders:
        return None
    hint = PRESETS[m.labels.preset].fps_hint or "e.g. videos.fps: 30"
    what = "sequences" if m.videos.kind is VideoKind.IMAGES else "folders"
    return (f"videos.fps: expected frames per second (a number > 0) for {len(folders)} image "
            f"{what} (e.g. {folders[0]}), got nothing (fix: {hint})")


def discover_videos(m: Manifest) -> Discovery:
    """Find the manifest's videos and name them. Raises :class:`ConfigError` with every problem:
    missing root, zero videos, unsafe or duplicate ids, image folders without ``videos.fps``."""

    root, problems = m.root_dir(), manifest_problems(m)
    if not root.is_dir():
        problems.append(_root_problem(m, root))
    if problems:
        raise ConfigError(m.source, problems)
    found, unmatched = _csv_candidates(m, root) if m.videos.csv else _glob_candidates(m, root)
    problems, unmatched = (unmatched, []) if m.videos.csv else ([], unmatched)
    named: list[tuple[VideoEntry, str]] = []
    images: list[tuple[_Candidate, Named]] = []
    for c in found:
        got = _named(m, root, c)
        if isinstance(got, str):
            unmatched.append(f"{c.rel}: {got}")
        elif m.videos.kind is VideoKind.IMAGES:
            images.append((c, got))
        else:
            named.append((_entry(m, c, got), c.rel))
    if images:
        sequences, more = _sequences(m, images)
        named, problems = named + sequences, problems + more
    problems += _id_problems(named, bool(m.videos.csv))
    if fps := _fps_problem(m, named):
        problems.append(fps)
    if not named and not problems:
        problems.append(_nothing_found(m, root, unmatched))
    if problems:
        raise ConfigError(m.source, problems)
    return Discovery(sorted((e for e, _ in named), key=lambda e: e.video_id), sorted(unmatched))

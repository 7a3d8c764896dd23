"""Loaders and ``data check`` on small media trees that the tests build in each dataset's official
layout (real AVI/MP4/WAV files), including damaged copies: missing files, truncated files, garbage."""

import numpy as np
import pytest
from mediatree import write_avi, write_mp4, write_wav

from avlib import datasets as D
from avlib.cli import main


def _ucf_lists(ann, classes, train, test):
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "classInd.txt").write_bytes("".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)).encode())
    (ann / "trainlist01.txt").write_bytes(
        "".join(f"{p} {classes.index(p.split('/')[0]) + 1}\r\n" for p in train).encode()
    )
    (ann / "testlist01.txt").write_bytes("".join(f"{p}\r\n" for p in test).encode())


@pytest.fixture
def ucf_copy(tmp_path):
    classes = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    train = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "YoYo/v_YoYo_g08_c01.avi",
    ]
    test = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
        "YoYo/v_YoYo_g01_c01.avi",
    ]
    _ucf_lists(tmp_path / "lists", classes, train, test)
    root = tmp_path / "UCF-101"
    for rel in train + test:
        # the media folder spells the class 'HandStandPushups' (the official quirk, reversed here)
        write_avi(root / rel.replace("HandstandPushups/", "HandStandPushups/"))
    return root, tmp_path / "lists"


def test_ucf101_tree_resolves_quirk_and_checks_ok(ucf_copy, capsys):
    root, ann = ucf_copy
    L = D.load("ucf101", root, annotations=ann)
    assert L.df["present"].all()
    assert L.df.loc[L.df["label_name"] == "HandstandPushups", "path"].str.startswith("HandStandPushups/").all()
    assert main(["data", "check", "ucf101", "--root", str(root), "--annotations", str(ann)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "train         3        3        0           0" in out


def test_damaged_copy_fails_check_and_names_files(ucf_copy, capsys, tmp_path):
    root, ann = ucf_copy
    (root / "YoYo/v_YoYo_g01_c01.avi").unlink()  # missing
    trunc = root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    trunc.write_bytes(b"RIFF\x00\x00")  # truncated header
    (root / "YoYo/v_YoYo_g08_c01.avi").write_bytes(np.random.default_rng(0).bytes(4000))  # garbage
    rc = main(
        [
            "data",
            "check",
            "ucf101",
            "--root",
            str(root),
            "--annotations",
            str(ann),
            "--out",
            str(tmp_path / "report.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "missing (1): YoYo/v_YoYo_g01_c01.avi" in out
    assert "unreadable: ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi" in out
    assert "unreadable: YoYo/v_YoYo_g08_c01.avi" in out
    assert "FAILED" in out
    import pandas as pd

    t = pd.read_csv(tmp_path / "report.csv").set_index("split")
    assert t.loc["train", "unreadable"] == 2 and t.loc["test", "missing"] == 1
    # a tolerance above the damage passes
    assert main(["data", "check", "ucf101", "--root", str(root), "--annotations", str(ann), "--tolerance", "0.7"]) == 0


def test_check_cli_errors(tmp_path, capsys):
    assert main(["data", "check", "nosuch", "--root", str(tmp_path)]) == 2
    assert main(["data", "check", "ucf101", "--root", str(tmp_path / "absent")]) == 2
    assert main(["data", "prepare", "esc50"]) == 0
    assert "github.com/karolpiczak/ESC-50" in capsys.readouterr().out


def test_hmdb51_tree(tmp_path):
    ann = tmp_path / "splits"
    ann.mkdir()
    for cls in ("brush_hair", "kick_ball"):
        (ann / f"{cls}_test_split1.txt").write_text(f"{cls}_a.avi 1 \n{cls}_b.avi 2 \n{cls}_c.avi 0 \n")
    root = tmp_path / "hmdb51"
    for cls in ("brush_hair", "kick_ball"):
        for s in "ab":
            write_avi(root / cls / f"{cls}_{s}.avi", audio=False)
    L = D.load("hmdb51", root, annotations=ann)
    c = L.counts().set_index("split")
    assert c.loc["train", "present"] == 2 and c.loc["test", "present"] == 2 and c.loc["unused", "present"] == 0
    assert D.check(L, show_progress=False).table.set_index("split").loc["train", "unreadable"] == 0


def test_kinetics_tree_tolerates_missing(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    rows = [
        ("abseiling", "aaaaaaaaaaa", 10, 20),
        ("abseiling", "bb_bbbbbbbb", 0, 10),
        ("air drumming", "ccccccccccc", 5, 15),
        ("air drumming", "ddddddddddd", 7, 17),
        ("air drumming", "eeeeeeeeeee", 1, 11),
    ]
    (ann / "kinetics-400_val.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        + "".join(f"{lab},{y},{s},{e},val,0\n" for lab, y, s, e in rows)
    )
    root = tmp_path / "k400"
    # one clip in the per-class layout (underscored folder), three flat, one gone from YouTube
    write_mp4(root / "val" / "air_drumming" / "ccccccccccc_000005_000015.mp4")
    for y, s, e in (("aaaaaaaaaaa", 10, 20), ("bb_bbbbbbbb", 0, 10), ("ddddddddddd", 7, 17)):
        write_mp4(root / f"{y}_{s:06d}_{e:06d}.mp4")
    L = D.load("kinetics400", root, annotations=ann)
    assert L.df["present"].sum() == 4 and L.classes == ["abseiling", "air drumming"]
    assert L.df.set_index("clip_id").loc["eeeeeeeeeee_000001_000011", "present"] == False  # noqa: E712
    r = D.check(L, show_progress=False)
    assert r.ok and r.missing == ["val/air_drumming/eeeeeeeeeee_000001_000011.mp4"]  # 1/5 <= 20 % tolerated
    (root / "ddddddddddd_000007_000017.mp4").unlink()
    assert not D.check("kinetics400", root, annotations=ann, show_progress=False).ok  # 2/5 > 20 %
    assert len(D.load("kinetics400", root, annotations=ann).present()) == 3


def test_audioset_tree_multilabel(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "class_labels_indices.csv").write_text(
        'index,mid,display_name\n0,/m/a,"Speech"\n1,/m/b,"Dog, bark"\n2,/m/c,"Music"\n'
    )
    (ann / "eval_segments.csv").write_text(
        "# Segments csv created\n# num_ytids=2\n# YTID, start_seconds, "
        'end_seconds, positive_labels\nAAAAAAAAAAA, 30.000, 40.000, "/m/a,/m/c"\n'
        'BBBBBBBBBBB, 0.000, 10.000, "/m/b"\n'
    )
    root = tmp_path / "as"
    write_wav(root / "eval" / "AAAAAAAAAAA_30.wav")
    L = D.load("audioset", root, annotations=ann)
    assert L.df["label"].tolist() == ["0;2", "1"] and L.df["present"].tolist() == [True, False]
    np.testing.assert_array_equal(D.base.multi_hot(L.df["label"], 3), [[1, 0, 1], [0, 1, 0]])
    (ann / "eval_segments.csv").write_text('ZZZZZZZZZZZ, 0.000, 10.000, "/m/zz"\n')
    with pytest.raises(D.AnnotationError, match="ZZZZZZZZZZZ: label ids \\['/m/zz'\\]"):
        D.load("audioset", root, annotations=ann)


def test_vggsound_full_csv_format(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "stat.csv").write_text('dog barking,10,animals\n"bird chirping, tweeting",10,animals\n')
    (ann / "vggsound.csv").write_text(
        'a_b_cdefghi,5,dog barking,train\nxxxxxxxxxxx,12,"bird chirping, tweeting",test\n'
    )
    root = tmp_path / "vgg"
    write_mp4(root / "video" / "a_b_cdefghi_000005.mp4")
    L = D.load("vggsound", root, annotations=ann)
    assert L.df[["clip_id", "split", "label", "present"]].values.tolist() == [
        ["a_b_cdefghi_000005", "train", "1", True],
        ["xxxxxxxxxxx_000012", "test", "0", False],
    ]


def test_esc50_any_extension(tmp_path, real_data):
    root = tmp_path / "ESC-50-master"
    (root / "meta").mkdir(parents=True)
    meta = (real_data / "esc50/meta/esc50.csv").read_text().splitlines()
    (root / "meta/esc50.csv").write_text("\n".join(meta[:4]) + "\n")
    stems = [ln.split(",")[0][:-4] for ln in meta[1:4]]
    write_wav(root / "audio" / f"{stems[0]}.wav")
    write_wav(root / "audio" / f"{stems[1]}.flac")
    L = D.load("esc50", root)
    assert L.df["path"].tolist()[:2] == [f"audio/{stems[0]}.wav", f"audio/{stems[1]}.flac"]
    assert L.df["present"].tolist() == [True, True, False]


def test_fsd50k_tree(tmp_path):
    root = tmp_path / "FSD50K"
    gt = root / "FSD50K.ground_truth"
    gt.mkdir(parents=True)
    (gt / "vocabulary.csv").write_text("0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n2,Speech,/m/09x0r\n")
    (gt / "dev.csv").write_text(
        'fname,labels,mids,split\n64760,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n16399,Speech,/m/09x0r,val\n'
    )
    (gt / "eval.csv").write_text('fname,labels,mids\n37199,"Dog,Speech","/m/0bt9lr,/m/09x0r"\n')
    for folder, f in (("FSD50K.dev_audio", 64760), ("FSD50K.dev_audio", 16399), ("FSD50K.eval_audio", 37199)):
        write_wav(root / folder / f"{f}.wav")
    L = D.load("fsd50k", root)
    assert L.df[["split", "label", "present"]].values.tolist() == [
        ["train", "0;1", True],
        ["val", "2", True],
        ["eval", "1;2", True],
    ]
    assert D.info("fsd50k").multilabel and D.check(L, show_progress=False).ok


def test_ave_split_files(tmp_path):
    ann = tmp_path / "AVE"
    ann.mkdir()
    head = "Category&VideoID&Quality&StartTime&EndTime\n"
    (ann / "Annotations.txt").write_text(head + "Church bell&AAA&good&0&10\nBanjo&BBB&good&3&6\n")
    (ann / "trainSet.txt").write_text("Church bell&AAA&good&0&10\n")
    (ann / "testSet.txt").write_text("Banjo&BBB&good&3&6\n")
    L = D.load("ave", annotations=ann)
    assert L.df["split"].tolist() == ["train", "test"] and L.classes == ["Banjo", "Church bell"]
    np.testing.assert_array_equal(D.ave.segment_targets(L)[1], [2, 2, 2, 0, 0, 0, 2, 2, 2, 2])
    (ann / "Annotations.txt").write_text("Banjo&BBB&good&3\n")
    with pytest.raises(D.AnnotationError, match="line 1: expected 'Category&VideoID"):
        D.load("ave", annotations=ann)


def test_manifest_feeds_the_cache_builder(tmp_path, real_data):
    """Real FSDD recordings -> loader -> manifest.csv -> avlib's array cache (the training input)."""
    from avlib.data.cache import build_cache, load_cache

    L = D.load("fsdd", real_data / "fsdd")
    sub = L.df[(L.df["take"] == 0) & L.df["label"].isin(["0", "1"])]
    from avlib.data.manifest import Manifest
    from avlib.datasets.base import Loaded

    small = Loaded(Manifest(sub, root=L.manifest.root), L.classes, L.info)
    D.write_manifest(small, tmp_path / "fsdd")
    meta = build_cache(
        tmp_path / "fsdd",
        tmp_path / "cache",
        fps=4,
        size=16,
        sample_rate=8000,
        seconds=0.25,
        min_seconds=0.25,
        modality="audio",
        progress=False,
        workers=1,
    )
    c = load_cache(tmp_path / "cache")
    assert len(c) == len(sub) == 12 and meta["n_skipped"] == 0
    assert c.audio.shape == (12, 2000) and np.abs(c.audio).max() > 0.01  # 0.25 s at 8 kHz, not silence
    np.testing.assert_array_equal(c.labels, sub["label"].astype(int).to_numpy())
    assert set(c.index["split"]) == {"test"}  # take 0 is FSDD's test set


def test_decode_check_accepts_optional_audio(ucf_copy, capsys):
    """Half of UCF101 has no audio track: a silent clip is complete, not unreadable (also with --decode)."""
    root, ann = ucf_copy
    write_avi(root / "YoYo/v_YoYo_g01_c01.avi", audio=False)
    assert main(["data", "check", "ucf101", "--root", str(root), "--annotations", str(ann), "--decode"]) == 0
    assert "OK" in capsys.readouterr().out
    from avlib.datasets.check import probe

    assert probe(root / "YoYo/v_YoYo_g01_c01.avi", ("video", "audio"), decode=True) == "no_audio_stream"
    assert probe(root / "YoYo/v_YoYo_g01_c01.avi", ("video", "audio"), decode=False) == "no audio stream"


def test_crema_d_official_repository_layout(tmp_path, real_data):
    """The official repository keeps SentenceFilenames.csv at its top (the bundle under meta/)."""
    import shutil

    src = real_data / "crema_d"
    root = tmp_path / "CREMA-D"
    (root / "VideoFlash").mkdir(parents=True)
    (root / "AudioMP3").mkdir()
    shutil.copy(src / "meta" / "SentenceFilenames.csv", root / "SentenceFilenames.csv")
    shutil.copy(src / "VideoFlash" / "1001_DFA_ANG_XX.flv", root / "VideoFlash")
    shutil.copy(src / "AudioMP3" / "1002_DFA_SAD_XX.mp3", root / "AudioMP3")
    L = D.load("crema_d", root)
    p = L.df[L.df["present"]].set_index("clip_id")
    assert list(p.index) == ["1001_DFA_ANG_XX", "1002_DFA_SAD_XX"]
    assert p.at["1001_DFA_ANG_XX", "label_name"] == "anger" and p.at["1002_DFA_SAD_XX", "label_name"] == "sad"
    r = D.check(L, show_progress=False, decode=True)
    assert r.unreadable == [] and r.table["present"].sum() == 2


def test_cli_list_options_and_manifest(tmp_path, annotations, real_data, capsys):
    # one value for a list option (was iterated letter by letter)
    rc = main(
        [
            "data",
            "check",
            "audioset",
            "--root",
            str(tmp_path),
            "--annotations",
            str(annotations / "audioset"),
            "--option",
            "subsets=eval",
            "--show",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1 and "eval" in out and "balanced_train" not in out and "20371" in out
    assert main(["data", "manifest", "esc50", "--root", str(real_data / "esc50"), "--out", str(tmp_path / "m")]) == 0
    import pandas as pd

    m = pd.read_csv(tmp_path / "m" / "manifest.csv")
    c = pd.read_csv(tmp_path / "m" / "classes.csv")
    assert len(m) == 2000 and m["path"].str.startswith("/").all() and list(c.columns) == ["index", "name"]
    assert c["name"].iloc[0] == "dog" and len(c) == 50
    assert main(["data", "manifest", "ucf101", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


def test_kinetics_sound_and_ave_trees(tmp_path, annotations):
    root = tmp_path / "ks"
    write_mp4(root / "blowing_nose" / "-AENAqVfyDo_000012_000022.mp4")
    L = D.load("kinetics_sound", root, annotations=annotations / "xkd")
    assert int(L.df["present"].sum()) == 1
    row = L.df[L.df["present"]].iloc[0]
    assert row["label_name"] == "blowing_nose" and row["split"] == "train" and row["path"].endswith(".mp4")
    # AVE: media in the official AVE/ folder, split files beside the media
    ave_root = tmp_path / "AVE"
    write_mp4(ave_root / "RUhOCu3LNXM.mp4")
    (ave_root / "testSet.txt").write_text("Church bell&RUhOCu3LNXM&good&0&10\n")
    A = D.load("ave", ave_root, annotations=annotations / "ave")
    hit = A.df[A.df["present"]]
    assert hit["clip_id"].tolist() == ["RUhOCu3LNXM"] and hit["split"].tolist() == ["test"]
    assert any("in no split file" in p for p in A.problems)

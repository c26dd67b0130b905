"""seglab.engine.dist over 2 CPU processes (torchrun, gloo): result gathering and reductions."""
import torch


def test_collect_results_in_dataset_order_on_rank_0_only(collectives_run):
    _, results = collectives_run
    for mode in ("files", "group"):
        gathered = results[0]["collect"][mode]
        assert [item["index"] for item in gathered] == [0, 1, 2, 3, 4], mode
        for item in gathered:
            assert torch.equal(item["pred"], torch.full((2, 2), item["index"]))
        assert results[1]["collect"][mode] is None


def test_collect_results_with_indices_drops_padding_duplicates(collectives_run):
    _, results = collectives_run
    expected = [f"img{i}" for i in range(5)]
    assert results[0]["collect"]["indexed"] == expected
    assert results[0]["collect"]["indexed_files"] == expected
    assert results[1]["collect"]["indexed"] is None


def test_collect_results_removes_its_temporary_files(collectives_run):
    _, results = collectives_run
    assert results[0]["collect"]["tmpdir_left"] == []


def test_all_reduce_dict_mean_and_sum(collectives_run):
    _, results = collectives_run
    for result in results:
        assert result["world_size"] == 2 and result["device"] == "cpu"
        assert result["reduce"] == {"a": 0.5, "b": 3.0}
        assert result["reduce_sum"] == {"a": 3.0}

import numpy as np
import pytest

from model.errors import DataError
from model.training.naming import apply_overrides, concept_of, load_overrides, name_segments

FEATURES = ["age", "annual_income", "orders_per_year", "total_spend", "days_since_last_purchase"]


@pytest.mark.parametrize(
    ("column", "concept"),
    [
        ("Annual Income (k$)", "income"),
        ("Spending Score (1-100)", "spend"),
        ("Age", "age"),
        ("average_order_value", "aov"),
        ("orders_per_year", "frequency"),
        ("days_since_last_purchase", "recency"),
        ("tenure_months", "tenure"),
        ("page_views", None),
    ],
)
def test_columns_map_to_concepts_by_whole_words(column, concept):
    assert concept_of(column) == concept


def test_names_describe_how_the_centre_differs():
    z = np.array(
        [
            [0.1, 2.0, 0.2, 0.3, 0.0],  # high income
            [-0.2, 0.0, 1.8, 0.4, -1.0],  # frequent (and recent: same meaning)
            [0.0, -1.5, -1.2, -0.9, 0.5],  # low income, occasional
        ]
    )
    names = [n.name for n in name_segments(z, FEATURES)]
    assert names[0] == "High-Income Shoppers"
    assert names[1] == "Frequent Shoppers"
    assert names[2] == "Low-Income Occasional Shoppers"
    actions = [n.action for n in name_segments(z, FEATURES)]
    assert "loyalty" in actions[1].lower()


def test_names_are_unique_within_a_version():
    z = np.array([[0, 2.0, 0, 0, 0], [0, 2.1, 0, 0, 0.6], [0, 1.9, 0, 0, 0], [0, 0, 0, 0, 0]])
    names = [n.name for n in name_segments(z, FEATURES)]
    assert len(set(names)) == len(names)
    assert names[3] == "Typical Shoppers"


def test_rfm_names_only_for_purchase_logs():
    feats = ["recency_days", "frequency", "monetary_total"]
    z = np.array([[-1.2, 1.5, 1.4], [1.5, 0.2, 1.0], [0.3, -1.0, -1.0]])
    logs = [n.name for n in name_segments(z, feats, noun="Customers", purchase_log=True)]
    assert logs[0] == "Champions" and logs[1] == "At Risk"
    plain = [n.name for n in name_segments(z, feats)]
    assert "Champions" not in plain


def test_overrides_by_id_and_by_generated_name(tmp_path):
    path = tmp_path / "names.toml"
    path.write_text(
        '[1]\nname = "Premium Prospects"\n\n["Frequent Shoppers"]\naction = "Send the VIP card."\n',
        encoding="utf-8",
    )
    z = np.array([[0, 2.0, 0, 0, 0], [0, 0, 2.0, 0, 0]])
    named = apply_overrides(name_segments(z, FEATURES), [1, 2], load_overrides(path))
    assert named[0].name == "Premium Prospects"
    assert named[1].name == "Frequent Shoppers" and named[1].action == "Send the VIP card."


def test_overrides_that_collide_are_refused(tmp_path):
    path = tmp_path / "names.toml"
    path.write_text('[1]\nname = "Same"\n[2]\nname = "Same"\n', encoding="utf-8")
    z = np.array([[0, 2.0, 0, 0, 0], [0, 0, 2.0, 0, 0]])
    with pytest.raises(DataError, match="more than one segment"):
        apply_overrides(name_segments(z, FEATURES), [1, 2], load_overrides(path))


def test_a_broken_overrides_file_is_one_clear_line(tmp_path):
    path = tmp_path / "names.toml"
    path.write_text("[1\nname=", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_overrides(path)
    assert "names file" in str(err.value) and "\n" not in str(err.value)

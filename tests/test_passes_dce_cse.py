"""dce and cse: IR text in, IR text out, with the interpreter as the numeric check."""
from textwrap import dedent


from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from litesmith.testing import check_pass



def test_dce_removes_unused_chains_and_keeps_outputs_and_foreign_ops():
    # Foreign ops have unknown side effects, so they stay even when unused.
    g = parse_ir(dedent("""
        graph @main(%x: f32[2]) {
          %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %a = core.identity(%c) : f32[2]
          %b = core.identity(%a) : f32[2]
          %s = tf.Unknown(%x) : f32[2]
          %y = core.identity(%x) : f32[2]
          return %y, %x
        }
    """))
    report = run_pipeline(g, "dce")
    assert print_ir(g) == dedent("""\
        graph @main(%x: f32[2]) {
          %s = tf.Unknown(%x) : f32[2]
          %y = core.identity(%x) : f32[2]
          return %y, %x
        }
    """)
    assert report["dce"].changed and report["dce"].report["removed"] == {"core.const": 1, "core.identity": 2}


def test_dce_inside_regions():
    check_pass(
        "dce",
        """
        graph @main(%p: bool[], %x: f32[2]) {
          %r = core.if(%p, %x) (
            ^then(%a: f32[2]) {
              %dead = core.identity(%a) : f32[2]
              %t = core.identity(%a) : f32[2]
              return %t
            },
            ^else(%b: f32[2]) {
              return %b
            }) : f32[2]
          %unused = core.if(%p, %x) (
            ^then(%a: f32[2]) {
              return %a
            },
            ^else(%b: f32[2]) {
              return %b
            }) : f32[2]
          return %r
        }
        """,
        """
        graph @main(%p: bool[], %x: f32[2]) {
          %r = core.if(%p, %x) (
            ^then(%a: f32[2]) {
              %t = core.identity(%a) : f32[2]
              return %t
            },
            ^else(%b: f32[2]) {
              return %b
            }
          ) : f32[2]
          return %r
        }
        """,
    )


def test_dce_reports_no_change():
    report = check_pass(
        "dce",
        """
        graph @main(%x: f32[2]) {
          %y = core.identity(%x) : f32[2]
          return %y
        }
        """,
        """
        graph @main(%x: f32[2]) {
          %y = core.identity(%x) : f32[2]
          return %y
        }
        """,
    )
    assert not report.changed


def test_cse_merges_identical_nodes_but_not_distinct_named_outputs():
    report = check_pass(
        "cse",
        """
        graph @main(%x: f32[2]) {
          %c1 = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %c2 = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %c3 = core.const() {value = dense<f64[2]> [1.0, 2.0]} : f64[2]
          %c4 = core.const() {value = dense<f32[2]> [1.0, -0.0]} : f32[2]
          %c5 = core.const() {value = dense<f32[2]> [1.0, 0.0]} : f32[2]
          %a = core.identity(%x) : f32[2]
          %b = core.identity(%x) : f32[2]
          %u = core.identity(%c2) : f32[2]
          %v = core.identity(%c1) : f32[2]
          return %a, %b, %u, %v, %c3, %c4, %c5
        }
        """,
        """
        graph @main(%x: f32[2]) {
          %c1 = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %c3 = core.const() {value = dense<f64[2]> [1.0, 2.0]} : f64[2]
          %c4 = core.const() {value = dense<f32[2]> [1.0, -0.0]} : f32[2]
          %c5 = core.const() {value = dense<f32[2]> [1.0, 0.0]} : f32[2]
          %a = core.identity(%x) : f32[2]
          %b = core.identity(%x) : f32[2]
          %u = core.identity(%c1) : f32[2]
          %v = core.identity(%c1) : f32[2]
          return %a, %b, %u, %v, %c3, %c4, %c5
        }
        """,
    )
    assert report["cse"].report["merged"] == {"core.const": 1}


def test_cse_merges_chains_and_works_per_region_but_not_foreign_ops():
    g = parse_ir(dedent("""
        graph @main(%p: bool[], %x: f32[2]) {
          %a = core.identity(%x) : f32[2]
          %b = core.identity(%x) : f32[2]
          %a2 = core.identity(%a) : f32[2]
          %b2 = core.identity(%b) : f32[2]
          %f1 = tf.Random(%x) : f32[2]
          %f2 = tf.Random(%x) : f32[2]
          %r = core.if(%p, %a2, %b2) (
            ^then(%s: f32[2], %t: f32[2]) {
              %s1 = core.identity(%s) : f32[2]
              %s2 = core.identity(%s) : f32[2]
              return %s2
            },
            ^else(%s: f32[2], %t: f32[2]) {
              return %t
            }) : f32[2]
          return %r, %f1, %f2
        }
    """))
    report = run_pipeline(g, "cse,dce", verify_each=True)
    text = print_ir(g)
    assert text.count("tf.Random") == 2
    assert "core.if(%p, %a2, %a2)" in text
    assert text.count("core.identity(%s)") == 1
    assert report["cse"].report["merged"] == {"core.identity": 3}

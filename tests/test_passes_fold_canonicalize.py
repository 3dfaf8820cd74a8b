"""fold-constants and canonicalize: IR text in/out, interpreter and TensorFlow as oracles."""
from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import get_op, run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from litesmith.testing import check_pass



def needs(*ops):
    missing = [op for op in ops if get_op(op) is None]
    return pytest.mark.skipif(bool(missing), reason=f"ops not declared yet: {', '.join(missing)}")


# -- fold-constants ------------------------------------------------------------------------


def test_fold_identity_chain_keeps_names_and_reports():
    report = check_pass(
        "fold-constants",
        """
        graph @main(%x: f32[2]) {
          %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %a = core.identity(%c) : f32[2] loc("a_src")
          %y = core.identity(%a) : f32[2]
          return %y, %x
        }
        """,
        """
        graph @main(%x: f32[2]) {
          %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %a = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2] loc("a_src")
          %y = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          return %y, %x
        }
        """,
    )
    assert report["fold-constants"].report["folded"] == ["core.identity 'a_src'", "core.identity 'y'"]


def test_fold_respects_max_elements_and_skips_foreign_and_region_ops():
    g = parse_ir(dedent("""
        graph @main(%p: bool[]) {
          %c = core.const() {value = dense<f32[4]> [1.0, 2.0, 3.0, 4.0]} : f32[4]
          %t = core.const() {value = dense<bool[]> true} : bool[]
          %big = core.identity(%c) : f32[4]
          %f = tf.Foo(%c) : f32[4]
          %r = core.if(%t, %c) (
            ^then(%a: f32[4]) {
              return %a
            },
            ^else(%b: f32[4]) {
              return %b
            }
          ) : f32[4]
          return %big, %f, %r
        }
    """))
    report = run_pipeline(g, "fold-constants{max_elements=3}")
    text = print_ir(g)
    assert "%big = core.identity(%c)" in text and "tf.Foo" in text and "core.if" in text
    rep = report["fold-constants"].report
    assert rep["folded"] == [] and rep["too_large"] == ["core.identity 'big'"]
    assert not report.changed


def test_fold_keeps_quantization_of_the_result():
    g = parse_ir(dedent("""
        graph @main() {
          %c = core.const() {value = dense<i8[2]> [1, 2]} : i8[2]
          %q = core.identity(%c) : i8[2] q(scale=0.5, zp=1)
          return %q
        }
    """))
    run_pipeline(g, "fold-constants")
    assert "%q = core.const() {value = dense<i8[2]> [1, 2]} : i8[2] q(scale=0.5, zp=1)" in print_ir(g)


@needs("core.add", "core.transpose", "core.reshape")
def test_fold_arithmetic_matches_tensorflow(tf):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([0.5, -1.0, 2.0], np.float32)
    g = parse_ir(dedent("""
        graph @main(%x: f32[3,2]) {
          %a = core.const() {value = dense<f32[2,3]> [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]} : f32[2,3]
          %b = core.const() {value = dense<f32[3]> [0.5, -1.0, 2.0]} : f32[3]
          %s = core.add(%a, %b) : f32[2,3]
          %p = core.const() {value = dense<i32[2]> [1, 0]} : i32[2]
          %t = core.transpose(%s, %p) : f32[3,2]
          %y = core.add(%t, %x) : f32[3,2]
          return %y
        }
    """))
    report = run_pipeline(g, "fold-constants,dce", verify_each=True)
    assert report["fold-constants"].report["folded"] == ["core.add 's'", "core.transpose 't'"]
    (node,) = [n for n in g if n.output.name == "t"]
    assert node.op == "core.const"
    want = tf.transpose(tf.add(a, b), [1, 0]).numpy()
    np.testing.assert_allclose(node.attrs["value"], want, rtol=1e-6)
    x = np.ones((3, 2), np.float32)
    np.testing.assert_allclose(run(g, {"x": x})["y"], want + x, rtol=1e-6)


# -- canonicalize ---------------------------------------------------------------------------


def test_canonicalize_removes_identities_but_keeps_interface_names():
    report = check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2]) {
          %a = core.identity(%x) : f32[2]
          %b = core.identity(%a) : f32[2]
          %y = core.identity(%b) : f32[2]
          %z = core.identity(%x) : f32[2]
          return %y, %z
        }
        """,
        """
        graph @main(%x: f32[2]) {
          %y = core.identity(%x) : f32[2]
          %z = core.identity(%x) : f32[2]
          return %y, %z
        }
        """,
    )
    rep = report["canonicalize"].report
    assert rep["converged"] and rep["applied"]["remove_identity"] == 2


def test_canonicalize_inside_regions():
    check_pass(
        "canonicalize",
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
        """
        graph @main(%p: bool[], %x: f32[2]) {
          %r = core.if(%p, %x) (
            ^then(%a: f32[2]) {
              return %a
            },
            ^else(%b: f32[2]) {
              return %b
            }
          ) : f32[2]
          return %r
        }
        """,
    )


@needs("core.reshape", "core.neg")
def test_canonicalize_reshape_chains():
    check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2,3]) {
          %s1 = core.const() {value = dense<i32[1]> [6]} : i32[1]
          %s2 = core.const() {value = dense<i32[2]> [3, 2]} : i32[2]
          %s3 = core.const() {value = dense<i32[2]> [2, 3]} : i32[2]
          %a = core.reshape(%x, %s1) : f32[6]
          %b = core.reshape(%a, %s2) : f32[3,2]
          %y = core.reshape(%b, %s2) : f32[3,2]
          %n = core.neg(%x) : f32[2,3]
          %c = core.reshape(%n, %s1) : f32[6]
          %z = core.reshape(%c, %s3) : f32[2,3]
          %w = core.identity(%z) : f32[2,3]
          return %y, %w
        }
        """,
        """
        graph @main(%x: f32[2,3]) {
          %s2 = core.const() {value = dense<i32[2]> [3, 2]} : i32[2]
          %y = core.reshape(%x, %s2) : f32[3,2]
          %w = core.neg(%x) : f32[2,3]
          return %y, %w
        }
        """,
    )


@needs("core.transpose", "core.neg")
def test_canonicalize_transposes():
    check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2,3,4]) {
          %p1 = core.const() {value = dense<i32[3]> [1, 2, 0]} : i32[3]
          %p2 = core.const() {value = dense<i32[3]> [2, 0, 1]} : i32[3]
          %n = core.neg(%x) : f32[2,3,4]
          %a = core.transpose(%n, %p1) : f32[3,4,2]
          %b = core.transpose(%a, %p2) : f32[2,3,4]
          %y = core.transpose(%a, %p1) : f32[4,2,3]
          %e = core.const() {value = dense<i32[3]> [0, 1, 2]} : i32[3]
          %z = core.transpose(%b, %e) : f32[2,3,4]
          %w = core.identity(%z) : f32[2,3,4]
          return %y, %w
        }
        """,
        """
        graph @main(%x: f32[2,3,4]) {
          %w = core.neg(%x) : f32[2,3,4]
          %0 = core.const() {value = dense<i32[3]> [2, 0, 1]} : i32[3]
          %y = core.transpose(%w, %0) : f32[4,2,3]
          return %y, %w
        }
        """,
    )


@needs("core.add", "core.sub", "core.mul", "core.div")
def test_canonicalize_neutral_constants_only_when_broadcast_safe():
    check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2,3]) {
          %zero = core.const() {value = dense<f32[3]> 0.0} : f32[3]
          %one = core.const() {value = dense<f32[1,1]> 1.0} : f32[1,1]
          %wide = core.const() {value = dense<f32[4,1,1]> 0.0} : f32[4,1,1]
          %two = core.const() {value = dense<f32[]> 2.0} : f32[]
          %a = core.add(%x, %zero) : f32[2,3]
          %b = core.mul(%one, %a) : f32[2,3]
          %c = core.sub(%b, %zero) : f32[2,3]
          %d = core.div(%c, %one) : f32[2,3]
          %y = core.mul(%d, %two) : f32[2,3]
          %z = core.add(%x, %wide) : f32[4,2,3]
          return %y, %z
        }
        """,
        """
        graph @main(%x: f32[2,3]) {
          %wide = core.const() {value = dense<f32[4,1,1]> [[[0.0]], [[0.0]], [[0.0]], [[0.0]]]} : f32[4,1,1]
          %two = core.const() {value = dense<f32[]> 2.0} : f32[]
          %y = core.mul(%x, %two) : f32[2,3]
          %z = core.add(%x, %wide) : f32[4,2,3]
          return %y, %z
        }
        """,
    )


@needs("core.cast")
def test_canonicalize_cast_to_same_dtype():
    check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2]) {
          %a = core.cast(%x) {dtype = f32} : f32[2]
          %y = core.cast(%a) {dtype = i32} : i32[2]
          return %y
        }
        """,
        """
        graph @main(%x: f32[2]) {
          %y = core.cast(%x) {dtype = i32} : i32[2]
          return %y
        }
        """,
    )


@needs("core.pack", "core.unpack", "core.tanh")
def test_canonicalize_unpack_of_pack():
    """Same axis: the packed values come back (stacked unroll=True layers); another axis stays."""
    check_pass(
        "canonicalize",
        """
        graph @main(%x: f32[2], %w: f32[2]) {
          %p = core.pack(%x, %w) {axis = 0} : f32[2,2]
          %a, %b = core.unpack(%p) {axis = 0, num = 2} : f32[2], f32[2]
          %c, %d = core.unpack(%p) {axis = 1, num = 2} : f32[2], f32[2]
          %y = core.tanh(%b) : f32[2]
          %z = core.tanh(%a) : f32[2]
          return %z, %y, %c
        }
        """,
        """
        graph @main(%x: f32[2], %w: f32[2]) {
          %p = core.pack(%x, %w) {axis = 0} : f32[2,2]
          %c, %d = core.unpack(%p) {axis = 1, num = 2} : f32[2], f32[2]
          %y = core.tanh(%w) : f32[2]
          %z = core.tanh(%x) : f32[2]
          return %z, %y, %c
        }
        """,
    )


def test_canonicalize_strict_fails_when_not_converged():
    from litesmith.ir.errors import UserError

    g = parse_ir(dedent("""
        graph @main(%x: f32[2]) {
          %a = core.identity(%x) : f32[2]
          %b = core.identity(%a) : f32[2]
          %y = core.identity(%b) : f32[2]
          return %y
        }
    """))
    with pytest.raises(UserError, match="did not converge in 1 iterations"):
        run_pipeline(g, "canonicalize{max_iterations=1,strict=true}")

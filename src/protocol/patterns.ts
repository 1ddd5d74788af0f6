/**
 * How two patterns relate (the access rules need it): whether some topic
 * matches both, and whether every topic of one matches the other. `*` is
 * exactly one segment, `>` (last) one or more.
 */

/** Whether at least one topic matches both `a` and `b`. */
export function overlaps(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  let i = 0;
  for (; i < x.length && i < y.length; i++) {
    // `>` takes whatever the other has left: it has a segment left here.
    if (x[i] === '>' || y[i] === '>') return true;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

/** Whether every topic that matches `inner` matches `outer` too. */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split('.');
  const n = inner.split('.');
  for (let i = 0; i < o.length && i < n.length; i++) {
    if (o[i] === '>') return true;
    if (n[i] === '>') return false;
    if (o[i] !== '*' && o[i] !== n[i]) return false;
  }
  return o.length === n.length;
}

<#-- The run() body of a Java map kernel (JavaRenderer.map; kernel.java.ftl wraps it into the class): work items
     flattened over the parallel vars, decomposed innermost first. Vectorised (x: the innermost parallel var, xd its
     size), x runs in segments of a row: L lanes at a time, then one masked chunk, so every element takes the same
     arithmetic wherever the pool's split falls (results do not depend on the thread count); else one item at a time.
     model: comments, header (lines), decompose (the outer vars' lines), then vector and tail (x, xd: the statements
     for L lanes and for the masked chunk) or statements (scalar). -->
<#list comments as line>
// ${line}
</#list>
<#list header as line>
${line}
</#list>
<#if vector??>
for (int p = lo; p < hi; ) {
  int r = p;
  final int xs = r % ${xd}; r /= ${xd};
<#list decompose as line>
  ${line}
</#list>
  final int xe = Math.min(${xd}, xs + (hi - p));
  int xv = xs;
  for (; xv + L <= xe; xv += L) {
    final int ${x} = xv;
${vector}  }
  if (xv < xe) {
    final int ${x} = xv;
    final VectorMask<Float> tm = S.indexInRange(0, xe - xv);
${tail}  }
  p += xe - xs;
}
<#else>
for (int p = lo; p < hi; p++) {
<#if decompose?has_content>
  int r = p;
</#if>
<#list decompose as line>
  ${line}
</#list>
${statements}}
</#if>

// What a tensor is for; the arena groups storage by role and lifetime.
package kiln.dsl;

public enum Role {
  PARAM, GRAD, STATE, INPUT, ACT, ACT_GRAD;

  public boolean isGradient() { return this == GRAD || this == ACT_GRAD; }
}

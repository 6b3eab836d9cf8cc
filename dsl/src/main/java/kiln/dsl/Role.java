// What a tensor is for; the arena groups storage by role and lifetime.
package kiln.dsl;

public enum Role {
  PARAM, GRAD, STATE, INPUT, ACT, ACT_GRAD
}

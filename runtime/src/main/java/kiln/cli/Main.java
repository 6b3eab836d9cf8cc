// Entry point of ./kiln: placeholder until the picocli CLI lands.
package kiln.cli;

public final class Main {
  public static void main(String[] args) {
    System.out.println("kiln: commands coming: train, verify, bench, emit");
  }
}

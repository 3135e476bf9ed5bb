package dev.emloc.sample;

import java.nio.file.Path;
import java.util.List;

/** The sample was started without {@code spring.ai.emloc.model-path}, and the demo model is in none of its places. */
public class DemoModelNotFoundException extends IllegalStateException {

    private final List<Path> searched;

    /** The demo model is not in any of {@code searched}. */
    public DemoModelNotFoundException(List<Path> searched) {
        super("spring.ai.emloc.model-path is not set and the demo model is in none of " + searched);
        this.searched = List.copyOf(searched);
    }

    /** The directories looked at, absolute. */
    public List<Path> searched() {
        return searched;
    }
}

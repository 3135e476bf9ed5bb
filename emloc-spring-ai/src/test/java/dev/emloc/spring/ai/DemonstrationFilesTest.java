package dev.emloc.spring.ai;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import dev.emloc.compress.Demonstration;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static dev.emloc.spring.ai.SpringAiFixtures.png;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DemonstrationFilesTest {

    @TempDir
    Path dir;
    Path images;
    byte[] red;
    byte[] blue;

    @BeforeEach
    void images() throws IOException {
        images = Files.createDirectories(dir.resolve("images"));
        Files.createDirectories(images.resolve("receipts"));
        red = png(0xcc2020);
        blue = png(0x2020cc);
        Files.write(images.resolve("receipts/red.png"), red);
        Files.write(images.resolve("blue.png"), blue);
    }

    private Path jsonl(String... lines) throws IOException {
        Path file = dir.resolve("demos.jsonl");
        Files.writeString(file, String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
        return file;
    }

    @Test
    void readsTextAndImageDemonstrationsInOrder() throws IOException {
        Path file = jsonl(
                "\uFEFF{\"question\": \"code 417?\", \"answer\": \"red\"}",
                "",
                "{\"question\": \"What colour?\", \"answer\": \"red\", \"image\": \"receipts/red.png\"}",
                "   ",
                "{\"question\": \"\", \"answer\": \"blue then red\", \"images\": [\"blue.png\", \"./receipts/../receipts/red.png\"]}",
                "{\"question\": \"Grüße – 你好?\", \"answer\": \"ünïcode\"}");
        List<Demonstration> demos = DemonstrationFiles.readJsonl(file, images);

        assertThat(demos).hasSize(4);
        assertThat(demos.get(0)).isEqualTo(Demonstration.of("code 417?", "red"));
        List<ContentPart> second = demos.get(1).user().parts();
        assertThat(second).hasSize(2);
        assertThat(((ContentPart.Image) second.get(0)).bytes()).isEqualTo(red);
        assertThat(second.get(1)).isEqualTo(ContentPart.text("What colour?"));
        List<ContentPart> third = demos.get(2).user().parts();
        assertThat(third).hasSize(2).allMatch(ContentPart.Image.class::isInstance);
        assertThat(((ContentPart.Image) third.get(0)).bytes()).isEqualTo(blue);
        assertThat(((ContentPart.Image) third.get(1)).bytes()).isEqualTo(red);
        assertThat(demos.get(2).answer()).isEqualTo("blue then red");
        assertThat(demos.get(3).user()).isEqualTo(ChatMessage.user("Grüße – 你好?"));
        assertThat(demos.get(3).answer()).isEqualTo("ünïcode");
    }

    @Test
    void errorsNameTheLineAndWhatToFix() throws IOException {
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\"}",
                "",
                "{\"question\": \"a\", \"answer\": \"b\"",
                "{\"question\": \"a\", \"answer\": \"b\"}"), images))
                .isInstanceOf(DemonstrationFileException.class).hasMessageContaining("demos.jsonl line 3")
                .hasMessageContaining("not valid JSON")
                .satisfies(e -> assertThat(((DemonstrationFileException) e).line()).isEqualTo(3));
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"question\": \"a\"}"), images))
                .hasMessageContaining("line 1").hasMessageContaining("non-blank \"answer\"");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"question\": \"a\", \"anwser\": \"b\"}"), images))
                .hasMessageContaining("unknown key \"anwser\"");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"answer\": \"b\"}"), images))
                .hasMessageContaining("needs a \"question\"");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"question\": 3, \"answer\": \"b\"}"), images))
                .hasMessageContaining("\"question\" that is not a string");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("[1, 2]"), images))
                .hasMessageContaining("not a JSON object");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"question\": \"a\", \"answer\": \"b\", \"answer\": \"c\"}"),
                images)).hasMessageContaining("not valid JSON").hasMessageContaining("answer");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"blue.png\", \"images\": [\"blue.png\"]}"), images))
                .hasMessageContaining("both \"image\" and \"images\"");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("{\"question\": \"\", \"answer\": \"b\"}"), images))
                .hasMessageContaining("empty \"question\" and no image");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl("", " "), images))
                .hasMessageContaining("holds no demonstrations");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(dir.resolve("missing.jsonl"), images))
                .isInstanceOf(DemonstrationFileException.class).hasMessageContaining("no such file");
    }

    @Test
    void imagesMustStayInsideTheImageDirectory() throws IOException {
        Files.write(dir.resolve("outside.png"), red);
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\"}",
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"../outside.png\"}"), images))
                .isInstanceOf(DemonstrationFileException.class).hasMessageContaining("line 2")
                .hasMessageContaining("outside the image directory");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"images\": [\"receipts/../../outside.png\"]}"), images))
                .hasMessageContaining("outside the image directory");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"" + dir.resolve("outside.png") + "\"}"), images))
                .hasMessageContaining("absolute path");
        Files.createSymbolicLink(images.resolve("link.png"), dir.resolve("outside.png"));
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"link.png\"}"), images))
                .hasMessageContaining("a link to").hasMessageContaining("outside the image directory");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"nope.png\"}"), images))
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"blue.png\"}"), null))
                .hasMessageContaining("no image directory was given");
    }

    @Test
    void limitsBoundTheFileTheDemonstrationsAndTheImages() throws IOException {
        Path file = jsonl(
                "{\"question\": \"a\", \"answer\": \"b\", \"image\": \"blue.png\"}",
                "{\"question\": \"c\", \"answer\": \"d\", \"images\": [\"blue.png\", \"receipts/red.png\"]}");
        DemonstrationFiles.Limits roomy = DemonstrationFiles.Limits.defaults();
        assertThat(DemonstrationFiles.readJsonl(file, images, roomy)).hasSize(2);
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, images,
                new DemonstrationFiles.Limits(10, 10, 16, 1 << 20, 1 << 30))).hasMessageContaining("more than the limit of 10");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, images,
                new DemonstrationFiles.Limits(1 << 20, 1, 16, 1 << 20, 1 << 30)))
                .hasMessageContaining("line 2").hasMessageContaining("limit of 1 demonstrations");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, images,
                new DemonstrationFiles.Limits(1 << 20, 10, 1, 1 << 20, 1 << 30)))
                .hasMessageContaining("line 2").hasMessageContaining("2 images");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, images,
                new DemonstrationFiles.Limits(1 << 20, 10, 16, 100, 1 << 30)))
                .hasMessageContaining("line 1").hasMessageContaining("limit of 100");
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, images,
                new DemonstrationFiles.Limits(1 << 20, 10, 16, 1 << 20, blue.length + 1)))
                .hasMessageContaining("line 2").hasMessageContaining("in all");
    }

    @Test
    void invalidUtf8IsReportedWithItsLine() throws IOException {
        Path file = dir.resolve("latin1.jsonl");
        Files.write(file, "{\"question\": \"a\", \"answer\": \"b\"}\n{\"question\": \"caf\u00e9\", \"answer\": \"b\"}\n"
                .getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> DemonstrationFiles.readJsonl(file, null)).hasMessageContaining("line 2")
                .hasMessageContaining("UTF-8");
    }
}

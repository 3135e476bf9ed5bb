package dev.emloc.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.core.io.FileSystemResource;
import org.springframework.util.MimeTypeUtils;

/**
 * The page in a real headless Chromium (Debian's {@code chromium}, driven through Debian's {@code chromedriver} by
 * Selenium; nothing is downloaded): teach the bundled example, wait for the progress bar to finish, upload a held-out
 * picture, ask, wait for the streamed answer, save a screenshot under {@code target/screenshots/}.
 *
 * <p>On the demo model the answer must be the held-out picture's label. On the tiny random model (no demo model in
 * {@code models/emloc-demo}) there is no right label to expect, so the test checks the whole flow instead: the chart,
 * the task list, and an answer that used the task's memory and equals what {@link ChatClient#prompt()} answers for the
 * same question.
 */
class SampleBrowserTest extends RunningSampleApp {

    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    static final Path SCREENSHOT = Path.of("target", "screenshots", "sample-assistant.png");
    private static final Duration TEACHING = Duration.ofSeconds(120);
    private static final Duration ANSWER = Duration.ofSeconds(60);

    @Autowired
    ChatClient chat;

    @Autowired
    TaskAdapters adapters;

    @Autowired
    BundledExamples examples;

    private WebDriver browser;
    private boolean screenshotTaken;

    @BeforeEach
    void startBrowser() {
        assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
        ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM.toFile()).addArguments("--headless=new",
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,2200");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @AfterEach
    void stopBrowser() throws IOException {
        if (browser != null) {
            if (!screenshotTaken) {
                saveScreenshot(); // what the page showed when the test failed
            }
            browser.quit();
        }
        adapters.forget("shapes");
    }

    @Test
    void teachTheBundledExampleThenAskAboutAHeldOutPicture() throws Exception {
        BundledExamples.Example example = examples.find("shapes").orElseThrow();
        BundledExamples.HeldOut query = example.heldOut().get(0);
        WebDriverWait wait = new WebDriverWait(browser, TEACHING);
        browser.get(url("/"));
        wait.until(d -> !d.findElement(By.id("model-line")).getText().startsWith("Loading"));
        assertThat(browser.findElement(By.id("model-line")).getText()).contains(modelInfo.layers() + " layers")
                .contains("in-memory");

        browser.findElement(By.id("teach-example")).click();
        wait.until(d -> List.of("done", "failed", "cancelled").contains(attribute("teach-status", "data-state")));
        assertThat(attribute("teach-status", "data-state")).as(text("teach-status")).isEqualTo("done");
        assertThat(attribute("teach-progress", "value")).isEqualTo("1");
        assertThat(text("teach-status")).startsWith("Taught 'shapes': 15 demonstrations compressed in");
        List<WebElement> bars = browser.findElements(By.cssSelector("#retention-chart rect.bar"));
        assertThat(bars).hasSizeGreaterThanOrEqualTo(modelInfo.layers());
        assertThat(browser.findElements(By.cssSelector("#retention-chart rect.bar.image"))).isNotEmpty();
        assertThat(browser.findElements(By.cssSelector("#task-table tr[data-task-id='shapes']"))).hasSize(1);
        assertThat(browser.findElement(By.id("ask-task")).getDomProperty("value")).isEqualTo("shapes");

        Path picture = heldOutFile(query);
        browser.findElement(By.id("ask-image")).sendKeys(picture.toAbsolutePath().toString());
        browser.findElement(By.id("ask-button")).click();
        new WebDriverWait(browser, ANSWER).until(d -> List.of("done", "failed").contains(attribute("answer", "data-state")));
        saveScreenshot();

        assertThat(attribute("answer", "data-state")).as(text("answer")).isEqualTo("done");
        String answer = (String) ((JavascriptExecutor) browser).executeScript(
                "return document.getElementById('answer').textContent");
        assertThat(text("answer-meta")).startsWith("answered with the memory of 'shapes'");
        if (modelInfo.demoModel()) {
            assertThat(answer.strip()).as("the demo model's answer for held-out %s", query.image()).isEqualTo(query.label());
            // the other held-out pictures, chosen by clicking their thumbnails
            List<WebElement> thumbnails = browser.findElements(By.cssSelector("#held-out img"));
            for (int i = 1; i < example.heldOut().size(); i++) {
                WebElement thumbnail = thumbnails.get(i);
                thumbnail.click();
                new WebDriverWait(browser, ANSWER).until(d -> String.valueOf(thumbnail.getDomAttribute("class")).contains("chosen"));
                browser.findElement(By.id("ask-button")).click(); // sets data-state=streaming before it returns
                new WebDriverWait(browser, ANSWER).until(d -> List.of("done", "failed")
                        .contains(attribute("answer", "data-state")));
                assertThat(text("answer").strip()).as("the demo model's answer for held-out %s",
                        example.heldOut().get(i).image()).isEqualTo(example.heldOut().get(i).label());
            }
        } else {
            assertThat(Integer.parseInt(attribute("answer", "data-completion-tokens"))).isPositive();
            String expected = chat.prompt().user(u -> u.text(example.question())
                    .media(MimeTypeUtils.IMAGE_PNG, new FileSystemResource(picture)))
                    .advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "shapes")).call().content();
            assertThat(answer).isEqualTo(expected);
        }

        browser.findElement(By.cssSelector("#task-table tr[data-task-id='shapes'] button.forget")).click();
        wait.until(ExpectedConditions.numberOfElementsToBe(By.cssSelector("#task-table tr[data-task-id='shapes']"), 0));
        assertThat(adapters.describe("shapes")).isEmpty();
    }

    private String attribute(String id, String name) {
        return browser.findElement(By.id(id)).getDomAttribute(name) == null
                ? browser.findElement(By.id(id)).getDomProperty(name)
                : browser.findElement(By.id(id)).getDomAttribute(name);
    }

    private String text(String id) {
        return browser.findElement(By.id(id)).getText();
    }

    private static Path heldOutFile(BundledExamples.HeldOut query) throws URISyntaxException {
        return Path.of(SampleBrowserTest.class.getResource(query.image()).toURI());
    }

    private void saveScreenshot() throws IOException {
        File shot = ((ChromeDriver) browser).getScreenshotAs(OutputType.FILE);
        Files.createDirectories(SCREENSHOT.getParent());
        Files.copy(shot.toPath(), SCREENSHOT, StandardCopyOption.REPLACE_EXISTING);
        screenshotTaken = true;
    }
}

using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>Every failure a user can cause ends with one readable line, a non-zero exit code and no stack trace.</summary>
public sealed class IntrospectErrorTests : IDisposable
{
    private const int Failure = 1;
    private const int Usage = 2;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Expected = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private Task<CliResult> RunAsync(params string[] args) =>
        CliRunner.RunAsync(["introspect", .. args, "--cache-dir", _temp.File("cache")], _temp.File("cache"), Limit,
            cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_missing_binary_is_named()
    {
        var result = await RunAsync("--qemu", "/nonexistent/qemu");

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Contain("/nonexistent/qemu").And.Contain("not found");
    }

    [Fact]
    public async Task A_program_that_exits_at_once_is_not_a_qemu()
    {
        var result = await RunAsync("--qemu", "/bin/true");

        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Contain("/bin/true").And.Contain("not a usable QEMU");
    }

    [Fact]
    public async Task A_program_that_prints_junk_is_not_a_qemu()
    {
        var junk = FakeQemu.Junk(_temp);

        var result = await RunAsync("--qemu", junk);

        // Well before the script's 30 s sleep ends: the junk itself must be recognised.
        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Contain(junk).And.Contain("not a QEMU").And.Contain("junk junk");
    }

    [Fact]
    public async Task Missing_qemu_option_is_a_usage_error()
    {
        var result = await RunAsync();

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().Contain("--qemu").And.Contain("required");
    }

    [Fact]
    public async Task An_unknown_option_is_a_usage_error()
    {
        var result = await RunAsync("--qemu", CliAssertions.Qemu, "--bogus-option");

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().Contain("--bogus-option");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    public async Task A_timeout_that_is_not_positive_is_a_usage_error(string timeout)
    {
        var result = await RunAsync("--qemu", CliAssertions.Qemu, "--timeout", timeout);

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().Contain("--timeout").And.Contain("positive");
        Directory.Exists(_temp.File("cache")).Should().BeFalse("a usage error must not start any work");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("99999999999")]
    [InlineData("2147483647")]
    public async Task A_timeout_that_is_not_a_usable_number_is_a_usage_error(string timeout)
    {
        var result = await RunAsync("--qemu", CliAssertions.Qemu, "--timeout", timeout, "--no-cache");

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().Contain("--timeout");
    }

    [Fact]
    public async Task A_timeout_that_expires_during_the_walk_is_reported_cleanly()
    {
        var slow = FakeQemu.Throttled(_temp, _temp.File("walk-started"));

        var result = await RunAsync("--qemu", slow, "--no-cache", "--timeout", "4");

        File.Exists(_temp.File("walk-started")).Should().BeTrue("the deadline is meant to expire during the device walk");
        var message = result.ShouldFailCleanly(Failure, Expected);
        message.Should().Contain(slow).And.Contain("did not finish within 4 s");
    }

    [Fact]
    public async Task An_unknown_machine_is_named_on_one_line()
    {
        var result = await RunAsync("--qemu", CliAssertions.Qemu, "--machine", "no-such-machine");

        var message = result.ShouldFailCleanly(Failure, TimeSpan.FromSeconds(40));
        message.Should().Contain("no-such-machine").And.Contain("unsupported machine type");
    }

    [Fact]
    public async Task A_device_without_a_machine_is_a_usage_error()
    {
        var result = await RunAsync("--qemu", CliAssertions.Qemu, "--device", "e1000");

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().Contain("--device").And.Contain("--machine");
    }
}

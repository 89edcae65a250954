using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

public sealed class ProbeErrorTests
{
    [Fact]
    public async Task A_missing_binary_is_reported_by_name()
    {
        var act = () => new QemuIntrospector().IntrospectAsync("qemu-system-nonexistent", TestContext.Current.CancellationToken);
        (await act.Should().ThrowAsync<QemuBinaryNotFoundException>()).Which.Message.Should().Contain("qemu-system-nonexistent");
    }

    [Fact]
    public async Task A_program_that_exits_at_once_is_not_a_qemu()
    {
        var act = () => new QemuIntrospector().IntrospectAsync("/bin/true", TestContext.Current.CancellationToken);
        (await act.Should().ThrowAsync<QemuProbeException>()).Which.Message.Should().Contain("/bin/true").And.Contain("not a usable QEMU");
    }

    [Fact]
    public async Task A_program_that_prints_junk_is_not_a_qemu()
    {
        using var temp = new TempDirectory();
        var junk = temp.File("junk");
        await File.WriteAllTextAsync(junk, "#!/bin/sh\necho 'Welcome to something else'\nsleep 30\n", TestContext.Current.CancellationToken);
        File.SetUnixFileMode(junk, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);

        var act = () => new QemuIntrospector().IntrospectAsync(junk, TestContext.Current.CancellationToken);

        var error = (await act.Should().ThrowAsync<QemuProbeException>().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken)).Which;
        error.Message.Should().Contain("not a QEMU").And.Contain("Welcome to something else");
    }

    [Fact]
    public async Task A_binary_that_never_answers_times_out_and_is_killed()
    {
        using var temp = new TempDirectory();
        var silent = temp.File("silent");
        var pidFile = temp.File("pid");
        await File.WriteAllTextAsync(silent, $"#!/bin/sh\necho $$ > '{pidFile}'\nexec sleep 300\n", TestContext.Current.CancellationToken);
        File.SetUnixFileMode(silent, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);

        var act = () => new QemuIntrospector(new IntrospectionOptions { Timeout = TimeSpan.FromSeconds(2) })
            .IntrospectAsync(silent, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<QemuProbeException>().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken))
            .Which.Message.Should().Contain("did not");
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, TestContext.Current.CancellationToken)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Directory.Exists($"/proc/{pid}").Should().BeFalse("the probe must not leave its process behind");
    }
}

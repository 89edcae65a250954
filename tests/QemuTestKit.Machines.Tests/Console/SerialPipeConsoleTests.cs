using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Console;

/// <summary>
/// SerialConsole on a pipe pair, with the test as QEMU's side: it appends to BASE.out and reads BASE.in, as
/// <c>-chardev pipe</c> does. Real QEMU on this transport runs in every machine test.
/// </summary>
public sealed class SerialPipeConsoleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Output_is_read_as_the_file_grows_and_the_console_closes_once_QEMU_has_exited_and_all_is_read()
    {
        using var run = RunDirectory.Create("console");
        var exited = new TaskCompletionSource();
        await using var console = SerialConsole.OpenPipe(run.SerialPort(0));
        File.Exists(run.SerialPort(0) + ".out").Should().BeTrue();
        console.StartReading(exited.Task);
        await using var qemu = new FileStream(run.SerialPort(0) + ".out", FileMode.Open, FileAccess.Write, FileShare.ReadWrite);

        await qemu.WriteAsync("login: "u8.ToArray(), Ct);
        await qemu.FlushAsync(Ct);
        (await console.WaitForAsync(new Regex("login: "), TimeSpan.FromSeconds(10), Ct)).Success.Should().BeTrue();

        // What QEMU wrote just before it exited is still read, then the console closes.
        await qemu.WriteAsync("last words"u8.ToArray(), Ct);
        await qemu.FlushAsync(Ct);
        exited.SetResult();
        await console.Closed.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        console.Transcript.GetBytes().Should().Equal("login: last words"u8.ToArray());
        console.IsConnected.Should().BeFalse();
        var send = () => console.SendLineAsync("too late", Ct);
        (await send.Should().ThrowAsync<ConsoleClosedException>()).Which.Message.Should().Contain("closed");
    }

    [Fact]
    public async Task Input_goes_to_the_FIFO_that_QEMU_reads()
    {
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.OpenPipe(run.SerialPort(0));
        console.StartReading(new TaskCompletionSource().Task);
        using var qemu = new FileStream(run.SerialPort(0) + ".in", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);

        await console.SendLineAsync("echo hi", Ct);

        var buffer = new byte[64];
        var read = await qemu.ReadAsync(buffer, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Encoding.UTF8.GetString(buffer, 0, read).Should().Be("echo hi\n");
    }

    [Fact]
    public async Task Output_the_host_reads_late_is_all_there_however_much_came_meanwhile()
    {
        // The reason for the pipe pair: a socket holds about 280 one-byte writes; a file holds everything.
        using var run = RunDirectory.Create("console");
        await using var console = SerialConsole.OpenPipe(run.SerialPort(0));
        var expected = new byte[200_000];
        await using (var qemu = new FileStream(run.SerialPort(0) + ".out", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
        {
            for (var i = 0; i < expected.Length; i++)
            {
                expected[i] = (byte)('a' + (i % 26));
                qemu.WriteByte(expected[i]);
            }
        }

        var exited = new TaskCompletionSource();
        exited.SetResult();
        console.StartReading(exited.Task);
        await console.Closed.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        console.Transcript.GetBytes().Should().Equal(expected);
    }

    [Fact]
    public void Opening_a_pipe_pair_that_exists_names_the_file()
    {
        using var run = RunDirectory.Create("console");
        File.WriteAllText(run.SerialPort(0) + ".in", "left over");

        var act = () => SerialConsole.OpenPipe(run.SerialPort(0));

        act.Should().Throw<IOException>().WithMessage($"*{run.SerialPort(0)}.in*");
    }
}

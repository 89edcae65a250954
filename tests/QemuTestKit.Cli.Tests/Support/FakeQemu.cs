namespace QemuTestKit.Cli.Tests.Support;

/// <summary>Stand-ins for a QEMU binary, written as scripts into a test's private directory.</summary>
internal static class FakeQemu
{
    /// <summary>A program that prints junk instead of a QMP greeting, then lingers.</summary>
    public static string Junk(TempDirectory dir) =>
        Script(dir, "junk-qemu", "#!/bin/sh\necho junk junk\nsleep 30\n");

    /// <summary>A program that never says anything; writes its pid to <paramref name="pidFile"/> first.</summary>
    public static string Silent(TempDirectory dir, string pidFile) =>
        Script(dir, "silent-qemu", $"#!/bin/sh\necho $$ > '{pidFile}'\nexec sleep 300\n");

    /// <summary>
    /// The real QEMU with its QMP replies slowed to one per 50 ms (the ~450 device types then take over 20 s), so a
    /// deadline or a Ctrl+C reliably lands in the middle of the device walk. Touches <paramref name="walkStarted"/>
    /// once the replies that come before the device walk (about ten) have gone by.
    /// </summary>
    public static string Throttled(TempDirectory dir, string walkStarted)
    {
        var filter = "$| = 1; while (<STDIN>) { print; if ($. == 16) { open(my $f, \">\", $ENV{QTK_WALK_STARTED}); close($f); } select(undef, undef, undef, 0.05); }";
        return Script(dir, "throttled-qemu",
            $"#!/bin/bash\nexport QTK_WALK_STARTED='{walkStarted}'\nexec qemu-system-x86_64 \"$@\" > >(exec perl -e '{filter}')\n");
    }

    private static string Script(TempDirectory dir, string name, string text)
    {
        var path = dir.File(name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Waits until a marker file exists (and, with <paramref name="nonEmpty"/>, has been written to).</summary>
    public static async Task WaitForFileAsync(string path, bool nonEmpty, CancellationToken cancellationToken)
    {
        while (!File.Exists(path) || (nonEmpty && new FileInfo(path).Length == 0))
        {
            await Task.Delay(50, cancellationToken);
        }
    }
}

using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>
/// Debian's QEMU 7.2 aborts on virtio-gpu-gl-pci and virtio-vga-gl when a display module is missing; with the module
/// installed it does not. To prove the walk survives such an abort on every machine, a wrapper runs the real QEMU and
/// SIGABRTs it when asked about one chosen type (a fault the real peer here may not produce).
/// </summary>
public sealed class CrashingDeviceTypeTests
{
    private const string Wrapper = """
        #!/bin/bash
        # Runs the real QEMU; aborts it, as a missing module does, when asked for the properties of $CRASH_TYPE.
        fifo="$(dirname "$0")/qmp-in.$$"
        mkfifo "$fifo"
        "@QEMU@" "$@" < "$fifo" &
        pid=$!
        exec 3> "$fifo"
        rm -f "$fifo"
        # The real QEMU may abort by itself on another type first (Debian's 7.2 does on virtio-gpu-gl-pci where the
        # GL display module is missing): then this wrapper must end too, or it holds QMP's stdout open forever.
        { while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; kill -TERM $$ 2>/dev/null; } </dev/null >/dev/null 2>&1 &
        while IFS= read -r line; do
          case "$line" in
            *'"typename":"@CRASH_TYPE@"'*)
              echo "qemu-system-x86_64: missing object type '@CRASH_TYPE@-device'" >&2
              kill -ABRT "$pid"; wait "$pid"; exit 134 ;;
          esac
          printf '%s\n' "$line" >&3
        done
        exec 3>&-
        wait "$pid"
        """;

    [Fact]
    public async Task A_type_that_aborts_the_emulator_is_recorded_as_unavailable_and_the_walk_goes_on()
    {
        using var temp = new TempDirectory();
        var wrapper = temp.File("qemu-crashy");
        await File.WriteAllTextAsync(wrapper, Wrapper.Replace("@QEMU@", TestQemu.Binary, StringComparison.Ordinal)
            .Replace("@CRASH_TYPE@", "virtio-vga-gl", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var catalog = await new QemuIntrospector().IntrospectAsync(wrapper, TestContext.Current.CancellationToken);

        var unavailable = catalog.UnavailableTypes.Should().ContainSingle(u => u.Name == "virtio-vga-gl").Subject;
        unavailable.Reason.Should().Contain("missing object type");
        catalog.FindDevice("virtio-vga-gl").Should().BeNull();
        // Types after it in the walk were described by the restarted emulator.
        catalog.FindDevice("vmxnet3").Should().NotBeNull();
        catalog.FindDevice("virtio-vga").Should().NotBeNull();
        catalog.DeviceTypes.Count.Should().BeGreaterThan(200);
    }
}

using System.Diagnostics;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class KvmProbeTests
{
    [Fact]
    public async Task The_probe_sees_a_kernel_start_under_tcg()
    {
        // The same probe on the accelerator that always works: proves a started kernel is recognised.
        var runs = await KvmProbe.GuestRunsAsync(TestQemu.Binary, "tcg", TestGuest.Load().Kernel, TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        runs.Should().BeTrue();
    }

    [Fact]
    public async Task The_probe_sees_firmware_run_under_tcg_when_there_is_no_kernel()
    {
        var runs = await KvmProbe.GuestRunsAsync(TestQemu.Binary, "tcg", kernel: null, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        runs.Should().BeTrue();
    }

    [Theory]
    [InlineData("aarch64")]
    [InlineData("riscv64")]
    public async Task The_probe_machine_of_another_target_sees_its_kernel_start_under_tcg(string architecture)
    {
        // What an arm64 or riscv64 host's KVM probe boots (its own board, UART and early console), proven under TCG here.
        var runs = await KvmProbe.GuestRunsAsync(TestQemu.For(architecture), "tcg", TestGuest.Load(architecture).Kernel, TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
        runs.Should().BeTrue();
    }

    [Fact]
    public async Task The_riscv64_probe_sees_its_firmware_run_under_tcg_when_there_is_no_kernel()
    {
        var runs = await KvmProbe.GuestRunsAsync(TestQemu.For("riscv64"), "tcg", kernel: null, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        runs.Should().BeTrue();
    }

    [Fact]
    public async Task Kvm_is_judged_by_trying_within_the_timeout_and_the_answer_is_cached()
    {
        var kernel = TestGuest.Load().Kernel;
        var stopwatch = Stopwatch.StartNew();
        var usable = await KvmProbe.IsUsableAsync(TestQemu.Binary, kernel, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(40));
        if (!File.Exists("/dev/kvm"))
        {
            usable.Should().BeFalse("without /dev/kvm there is no KVM");
        }

        var again = Stopwatch.StartNew();
        (await KvmProbe.IsUsableAsync(TestQemu.Binary, kernel, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)).Should().Be(usable);
        again.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Another_architectures_binary_is_unusable_for_kvm_at_once()
    {
        var stopwatch = Stopwatch.StartNew();

        var usable = await KvmProbe.IsUsableAsync(TestQemu.For("aarch64"), TestGuest.Load("aarch64").Kernel, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        usable.Should().BeFalse("KVM runs guests of the host's architecture only (this test host is x86_64)");
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
    }
}
